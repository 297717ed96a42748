// The web UI's script (served as /static/berth.js): copy buttons, confirmations, upload progress; pages work without it.
export const BERTH_JS = String.raw`'use strict';
(function () {
  // <button data-copy="text">: copies the text, says so for a moment
  document.addEventListener('click', function (e) {
    var b = e.target instanceof Element ? e.target.closest('button[data-copy]') : null;
    if (!b || !navigator.clipboard) return;
    e.preventDefault();
    navigator.clipboard.writeText(b.getAttribute('data-copy')).then(function () {
      var was = b.textContent;
      b.textContent = 'Copied';
      setTimeout(function () { b.textContent = was; }, 1500);
    });
  });
  // <form data-confirm="question">: asks before sending (without JS the form's own page is the confirmation)
  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (!(f instanceof HTMLFormElement)) return;
    var b = e.submitter;
    var q = (b && b.getAttribute('data-confirm-button')) || f.getAttribute('data-confirm');
    if (q && !window.confirm(q)) { e.preventDefault(); e.stopImmediatePropagation(); return; }
    // <form data-progress> with a <progress> inside: sent by XHR (streamed by the browser) to show progress;
    // the answer replaces the page, as a plain form's would
    if (!f.hasAttribute('data-progress') || !window.FormData) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    var bar = f.querySelector('progress');
    var x = new XMLHttpRequest();
    x.open('POST', f.action);
    var token = f.querySelector('input[name=_csrf]');
    if (token) x.setRequestHeader('X-CSRF-Token', token.value);
    x.upload.onprogress = function (p) { if (bar && p.lengthComputable) { bar.max = p.total; bar.value = p.loaded; } };
    x.onload = function () {
      if (x.responseURL && x.responseURL !== f.action && x.status < 400) { window.location.assign(x.responseURL); return; }
      document.open(); document.write(x.responseText); document.close();
    };
    x.onerror = function () { if (bar) bar.replaceWith(document.createTextNode('The upload failed: the connection broke.')); };
    x.send(new FormData(f));
  }, true);
})();
`;
