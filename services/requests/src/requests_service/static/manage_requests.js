// Manage Requests: "Select all on this page" also ticks (and unticks) each row's box. Only an
// enhancement: without it the form still works (the server then acts on every request of the page).
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (!all) return;
  const rows = Array.from(document.querySelectorAll("input.select-row"));
  all.addEventListener("change", () => rows.forEach((box) => { box.checked = all.checked; }));
  rows.forEach((box) => box.addEventListener("change", () => { all.checked = rows.every((r) => r.checked); }));
});
