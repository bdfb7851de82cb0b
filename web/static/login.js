// Signs the server's one-time challenge with WebCrypto, using the key file the person chose.
// Only the certificate and the signature are sent; the key file's input has no name, so the form
// never carries it. Messages come from the page (#login-messages), for translation.
"use strict";
const form = document.getElementById("login");
const say = JSON.parse(document.getElementById("login-messages").textContent);
const status = document.getElementById("status");

const b64 = bytes => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const pemBody = text => {
  const m = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
  if (!m) throw new Error("not PKCS#8 PEM");
  return Uint8Array.from(atob(m[1].replace(/\s+/g, "")), c => c.charCodeAt(0));
};

async function importKey(der) {
  // ECDSA P-256 first, then RSA (PKCS#1 v1.5): the two families WebCrypto and the server share.
  try {
    return [await crypto.subtle.importKey("pkcs8", der, {name: "ECDSA", namedCurve: "P-256"}, false, ["sign"]),
            {name: "ECDSA", hash: "SHA-256"}];
  } catch (e) {
    return [await crypto.subtle.importKey("pkcs8", der, {name: "RSASSA-PKCS1-v1_5", hash: "SHA-256"}, false,
                                          ["sign"]), {name: "RSASSA-PKCS1-v1_5"}];
  }
}

form.addEventListener("submit", async ev => {
  ev.preventDefault();
  const cert = document.getElementById("cert-file").files[0];
  const keyFile = document.getElementById("key-file").files[0];
  if (!cert || !keyFile) { status.textContent = say.no_files; return; }
  if (!window.crypto || !crypto.subtle) { status.textContent = say.no_webcrypto; return; }
  status.textContent = say.reading;
  let key, algo;
  try {
    [key, algo] = await importKey(pemBody(await keyFile.text()));
  } catch (e) { status.textContent = say.bad_key; return; }
  status.textContent = say.signing;
  const message = new TextEncoder().encode("dsom-cabinet-login\n" + form.elements.challenge.value);
  const sig = await crypto.subtle.sign(algo, key, message);
  form.elements.certificate.value = b64(await cert.arrayBuffer());
  form.elements.signature.value = b64(sig);
  form.submit();
});
