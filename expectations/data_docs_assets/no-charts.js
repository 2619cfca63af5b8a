/* Data docs offline: Vega is not vendored (only profiling pages draw charts, and the gates
   profile nothing). A chart block says so instead of failing. */
window.vegaEmbed = function (selector) {
  var el = typeof selector === "string" ? document.querySelector(selector) : selector;
  if (el) { el.textContent = "(chart not drawn: the data docs are offline)"; }
  return Promise.resolve();
};
