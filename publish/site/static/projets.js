// The cards of every project, from the last published: `data/projets.json` holds the latest
// and names the files of the older ones (each changes only when a card it holds does, so a
// browser keeps it until then), fetched side by side. Shared by the list and the map.
window.bibiaProjets = function (url) {
  "use strict";
  if (window.location.protocol === "file:") {  // a browser lets no page read files from disk
    return Promise.reject(new Error("file"));
  }
  var folder = url.replace(/[^\/]*$/, "");
  function json(address) {
    return fetch(address).then(function (r) {
      if (!r.ok) { throw new Error(address + ": " + r.status); }
      return r.json();
    });
  }
  return json(url).then(function (data) {
    return Promise.all(data.parties.map(function (name) { return json(folder + name); }))
      .then(function (parts) { return data.projets.concat.apply(data.projets, parts); });
  });
};

// When the data cannot be read: the page says why, and how to get it, instead of an empty
// register (a page opened from disk, a network gone).
window.bibiaSansDonnees = function (error, what) {
  "use strict";
  var box = document.getElementById("sans-donnees");
  if (!box) { return; }
  if (error && error.message === "file") {
    box.textContent = "Cette page est ouverte depuis le disque : le navigateur lui interdit de " +
      "lire ses données, " + what + " ne peut donc pas fonctionner. Les fiches et la liste page " +
      "par page restent lisibles. Pour tout avoir, servir le dossier du site, par exemple : " +
      "python3 -m http.server -d CHEMIN/DU/SITE 8000, puis ouvrir http://localhost:8000.";
  } else {
    box.textContent = "Les données du registre n'ont pas pu être lues (" +
      (error && error.message ? error.message : "erreur inconnue") + ") : " + what +
      " ne peut pas fonctionner. Recharger la page dans un moment.";
  }
  box.hidden = false;
};
