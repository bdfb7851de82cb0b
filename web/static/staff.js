// The administrator's "add a staff member" form: the chosen certificate file is read here and sent
// as base64 in an ordinary form field (the CSRF middleware checks url-encoded forms; a multipart
// upload is not needed for a few kilobytes).
"use strict";
const addForm = document.getElementById("add-staff");
addForm.addEventListener("submit", async ev => {
  if (addForm.elements.certificate.value) return;
  ev.preventDefault();
  const file = document.getElementById("cert-file").files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  addForm.elements.certificate.value = btoa(String.fromCharCode(...bytes));
  addForm.submit();
});
