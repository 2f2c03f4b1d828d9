// The map: one circle per project placed at its authority's seat, coloured by theme and drawn
// by Leaflet as vectors, so the points show even when the tiles cannot load. Popups are built
// from DOM text; the tiles' credit line is shown as text.
(function () {
  "use strict";
  var box = document.getElementById("carte");
  if (!box || !window.L || !window.bibiaProjets) { return; }
  var root = box.getAttribute("data-root") || "";
  Array.prototype.forEach.call(document.querySelectorAll(".legend .dot"), function (dot) {
    dot.style.background = dot.getAttribute("data-colour");
  });
  function asText(text) {
    var node = document.createElement("span");
    node.textContent = text || "";
    return node.innerHTML;
  }
  var map = L.map(box).setView([46.6, 2.4], 6);
  var tiles = box.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 18, attribution: asText(box.getAttribute("data-attribution")) })
      .addTo(map);
  }
  window.bibiaProjets(box.getAttribute("data-points")).then(function (data) {
    var placed = data.filter(function (p) { return typeof p.lat === "number" && typeof p.lon === "number"; });
    var renderer = placed.length > 2000 ? L.canvas() : L.svg();
    var bounds = [];
    placed.forEach(function (p) {
      var point = L.circleMarker([p.lat, p.lon], {
        radius: 7, color: "#1b1b1f", weight: 1, fillColor: p.couleur || "#0b4f9c",
        fillOpacity: 0.85, renderer: renderer
      });
      var popup = document.createElement("div");
      var link = document.createElement("a");
      link.href = root + p.page; link.textContent = p.nom;
      var who = document.createElement("p"); who.textContent = p.porteur + " · " + p.theme;
      popup.appendChild(link); popup.appendChild(who);
      point.bindPopup(popup);
      point.addTo(map);
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 10 }); }
    box.setAttribute("data-placed", String(placed.length));
  }).catch(function (error) {
    window.bibiaSansDonnees(error, "la carte");
  });
})();
