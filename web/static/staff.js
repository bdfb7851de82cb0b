// The administrator's "add a staff member" form: the certificate file goes as a real multipart
// upload, with the CSRF token in the x-csrftoken header, where asgi-csrf checks it before reading any
// body (it cannot read it from a multipart body with the python-multipart we run: web/app.py,
// multipart_token_in_header). A refusal's message is shown above the form, which keeps its values.
"use strict";
const addForm = document.getElementById("add-staff");
addForm.addEventListener("submit", async ev => {
  ev.preventDefault();
  const res = await fetch(addForm.getAttribute("action"), {
    method: "POST",
    body: new FormData(addForm),
    headers: {"x-csrftoken": addForm.elements.csrftoken.value},
    credentials: "same-origin",
  });
  if (res.ok && res.redirected) {
    window.location.assign(res.url);
    return;
  }
  const page = new DOMParser().parseFromString(await res.text(), "text/html");
  const said = page.getElementById("error") || page.querySelector("p");
  for (const old of document.querySelectorAll("#error, #done")) old.remove();
  const p = document.createElement("p");
  p.className = "error";
  p.id = "error";
  p.setAttribute("role", "alert");
  p.textContent = said ? said.textContent : `${res.status} ${res.statusText}`;
  document.getElementById("main").prepend(p);
});
