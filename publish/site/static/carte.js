// The map: a marker per project placed at its authority's seat, coloured by its theme, nearby
// ones grouped (Leaflet.markercluster): a group opens by a click or the Enter key, down to the
// projects of one seat, spread around it. Each marker and group is reachable with the Tab key;
// the list beside the map holds the same projects, each with a button that shows it on the
// map; the filters of the list apply to both. Popups and the list are built from DOM text;
// the tiles' credit line is shown as text.
(function () {
  "use strict";
  var box = document.getElementById("carte");
  var form = document.getElementById("filtres");
  var list = document.getElementById("points");
  if (!box || !form || !list || !window.L || !L.markerClusterGroup || !window.bibiaProjets) {
    return;
  }
  var root = box.getAttribute("data-root") || "";
  var count = document.getElementById("nombre");
  var none = document.getElementById("aucun");
  var more = document.getElementById("plus");
  var moreWrap = document.getElementById("plus-wrap");
  var unplaced = document.getElementById("sans-position");
  var STEP = 50;
  var el = window.bibiaEl;
  Array.prototype.forEach.call(document.querySelectorAll(".legend .dot"), function (dot) {
    dot.style.background = dot.getAttribute("data-colour");
  });
  function asText(text) {
    var node = document.createElement("span");
    node.textContent = text || "";
    return node.innerHTML;
  }
  var map = L.map(box, { maxZoom: 18 }).setView([46.6, 2.4], 6);  // with or without tiles
  var tiles = box.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 18, attribution: asText(box.getAttribute("data-attribution")) })
      .addTo(map);
  }
  var groups = L.markerClusterGroup({
    chunkedLoading: true,  // thousands of markers grouped a slice at a time: the page stays usable
    chunkProgress: function (done, total) {
      if (total && done === total && window.performance && performance.mark) {
        performance.mark("bibia:groupes");  // every marker in its group (measured)
      }
    },
    showCoverageOnHover: false,
    maxClusterRadius: 50,
    spiderfyOnMaxZoom: true,
    iconCreateFunction: function (cluster) {
      var n = cluster.getChildCount();
      var size = n < 10 ? 34 : n < 100 ? 40 : 48;
      return L.divIcon({
        className: "grappe",
        iconSize: [size, size],
        html: '<span aria-hidden="true">' + n + '</span><span class="lecteur">Groupe de ' + n +
          " projets : l'ouvrir</span>"
      });
    }
  });
  groups.addTo(map);

  var markers = {};
  function popup(p) {
    var content = el("div", "bulle");
    var link = el("a", null, p.nom);
    link.href = root + p.page;
    content.appendChild(link);
    content.appendChild(el("p", null, p.porteur + " · " + p.theme));
    return content;
  }
  function markerOf(p) {
    var found = markers[p.id];
    if (found) { return found; }
    var marker = L.marker([p.lat, p.lon], {
      icon: L.divIcon({ className: "point", iconSize: [18, 18] }),
      title: p.nom + " (" + p.porteur + ")",
      riseOnHover: true
    });
    marker.on("add", function () {  // a style set from the script: the page's policy allows it
      var element = marker.getElement();
      if (element) { element.style.background = p.couleur; }
    });
    marker.bindPopup(function () { return popup(p); });
    markers[p.id] = marker;
    return marker;
  }
  function located(p) { return typeof p.lat === "number" && typeof p.lon === "number"; }

  function showOnMap(p) {
    var marker = markerOf(p);
    groups.zoomToShowLayer(marker, function () {
      marker.openPopup();
      var link = marker.getPopup().getElement().querySelector("a");
      if (link) { link.focus(); }  // the keyboard lands where the project is
    });
  }
  function item(p) {
    var li = el("li");
    var link = el("a", null, p.nom);
    link.href = root + p.page;
    li.appendChild(link);
    li.appendChild(el("span", "porteur", p.porteur));
    var button = el("button", "voir", "Sur la carte");
    button.type = "button";
    button.setAttribute("aria-label", "Montrer « " + p.nom + " » sur la carte");
    button.addEventListener("click", function () { showOnMap(p); });
    li.appendChild(button);
    return li;
  }
  var draw = window.bibiaPages(list, more, moreWrap, STEP, item);
  function show(found, query) {
    var matching = found.filter(located);
    groups.clearLayers();
    groups.addLayers(matching.map(markerOf));
    count.textContent = matching.length;
    count.parentNode.lastChild.textContent = matching.length === 1 ? " projet sur la carte" :
      " projets sur la carte";
    var elsewhere = found.length - matching.length;
    unplaced.textContent = elsewhere ? " (et " + elsewhere + " sans position connue)" : "";
    none.hidden = matching.length > 0;
    draw(matching);
    if (matching.length) {  // the map frames what the filters found (groups are still
      // being made when there are many: the bounds come from the projects themselves)
      var bounds = L.latLngBounds(matching.map(function (p) { return [p.lat, p.lon]; }));
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 10 });
    }
    box.setAttribute("data-placed", String(matching.length));
    window.bibiaVers("vers-liste", query);
  }
  window.bibiaProjets(box.getAttribute("data-points")).then(function (projects) {
    window.bibiaFiltres(form, projects, show);
    window.__bibiaReady = true;
    if (window.performance && performance.mark) { performance.mark("bibia:pret"); }  // measured
  }).catch(function (error) {
    form.hidden = true;
    window.bibiaSansDonnees(error, "la carte");
  });
})();
