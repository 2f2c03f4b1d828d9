// A project's page: its share links, made from the page's own address (the site does not
// know the address it is served at). Without JavaScript the links stay hidden.
(function () {
  "use strict";
  var box = document.querySelector(".share");
  if (!box) return;
  var address = window.location.href.split("#")[0];
  var title = document.querySelector("h1").textContent;
  var mail = box.querySelector(".share-mail");
  mail.href = "mailto:?subject=" + encodeURIComponent(title) +
    "&body=" + encodeURIComponent(title + "\n" + address);
  var copy = box.querySelector(".share-copy");
  var said = box.querySelector(".share-said");
  if (navigator.clipboard && window.isSecureContext) {
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(address).then(function () {
        said.textContent = "Lien copié.";
      }, function () {
        said.textContent = "Copie impossible : l'adresse est dans la barre du navigateur.";
      });
    });
  } else {
    copy.hidden = true;
  }
  box.hidden = false;
})();
