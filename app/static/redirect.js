// The last page of a crowdsourced session, run by gr.HTML's js_on_load with `element`: when the return link
// appears (app/messages.py return_link, with data-redirect seconds), the rater is taken back to the study
// platform after that delay, as Prolific and MTurk studies expect; the link stays for a browser that blocks it.
(() => {
  let timer = null;
  const arm = () => {
    const link = element.querySelector("a[data-redirect]");
    if (!link || timer) return;
    timer = setTimeout(() => window.location.assign(link.href), Number(link.dataset.redirect) * 1000);
  };
  new MutationObserver(arm).observe(element, { childList: true, subtree: true });
  arm();
})();
