// The cards of every project, from the last published: `data/projets.json` holds the latest
// and names the files of the older ones (each changes only when a card it holds does, so a
// browser keeps it until then), fetched side by side. Shared by the list and the map.
window.bibiaProjets = function (url) {
  "use strict";
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
