// What the list and the map share: the cards of every project, their search and their filters.
(function () {
  "use strict";

  // The cards, from the last published: `data/projets.json` holds the latest and names the
  // files of the older ones (each changes only when a card it holds does, so a browser keeps
  // it until then), fetched side by side. A card is an array of the manifest's `champs`; a
  // field with a vocabulary holds the number of its term (text: a value kept as typed).
  var asked = {};
  window.bibiaProjets = function (url) {
    if (window.location.protocol === "file:") {  // a browser lets no page read files from disk
      return Promise.reject(new Error("file"));
    }
    if (!asked[url]) {
      asked[url] = read(url);
      asked[url].catch(function () {});  // said by the page that uses it, not as "uncaught"
    }
    return asked[url];
  };
  function read(url) {
    var folder = url.replace(/[^\/]*$/, "");
    function json(address) {
      return fetch(address).then(function (r) {
        if (!r.ok) { throw new Error(address + ": " + r.status); }
        return r.json();
      });
    }
    return json(url).then(function (data) {
      var read = reader(data);
      var latest = read(data.projets);
      return Promise.all(data.parties.map(function (name) { return json(folder + name).then(read); }))
        .then(function (parts) { return latest.concat.apply(latest, parts); });
    });
  }

  function reader(manifest) {
    var names = manifest.champs;
    var page = manifest.fiche.split("{}");
    var decode = names.map(function (name) {
      var labels = manifest.vocabulaires[name];
      if (!labels) { return null; }
      function one(value) { return typeof value === "number" ? labels[value] : value; }
      return function (value) { return Array.isArray(value) ? value.map(one) : one(value); };
    });
    var themeAt = names.indexOf("theme");
    return function (rows) {
      return rows.map(function (row) {
        var p = {};
        for (var i = 0; i < names.length; i++) {
          p[names[i]] = decode[i] ? decode[i](row[i]) : row[i];
        }
        var theme = row[themeAt];
        p.couleur = (typeof theme === "number" && manifest.couleurs[theme]) || manifest.autre_couleur;
        p.page = page[0] + p.id + page[1];
        // what a search reads, as written: the words sought carry the accents (`bibiaMots`)
        p.texte = [p.nom, p.porteur, p.theme, p.extrait, (p.sous_theme || []).join(" "),
          p.statut, p.type].join(" ");
        return p;
      });
    };
  }

  // Loaded in the page's head, the script asks for the data at once, while the page is read.
  var script = document.currentScript;
  var early = script && script.getAttribute("data-projets");
  if (early && window.location.protocol !== "file:") { window.bibiaProjets(early); }

  // A search ignores case and accents. Rather than folding the text of every project (a third
  // of a second at 50,000), each word sought is folded and each of its letters stands for the
  // letter with any accent: "ecole" is /[eéèêë…][cç…]ol[eé…]/i, tried on the text as written.
  function fold(text) {
    return (text || "").toString().normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var accented = null;
  function letters() {
    if (accented) { return accented; }
    accented = {};
    [[0xc0, 0x24f], [0x1e00, 0x1eff]].forEach(function (range) {
      for (var code = range[0]; code <= range[1]; code++) {
        var c = String.fromCharCode(code), base = fold(c);
        if (base.length === 1 && base >= "a" && base <= "z") {
          (accented[base] = accented[base] || [base]).push(c);
        }
      }
    });
    return accented;
  }
  window.bibiaMots = function (query) {
    var table = letters();
    return fold(query).split(/\s+/).filter(Boolean).map(function (word) {
      var pattern = Array.prototype.map.call(word, function (c) {
        var forms = table[c];
        var one = forms ? "[" + forms.join("") + "]" : c.replace(/[\\^$.*+?()[\]{}|\/-]/g, "\\$&");
        return one + "[\\u0300-\\u036f]*";  // a letter written with its accent apart
      }).join("");
      return new RegExp(pattern, "i");
    });
  };

  // The filters' form (the list's and the map's): which projects match, the state kept in the
  // address (to share a filtered view), sub-themes narrowed to the chosen theme, and on a
  // phone the form folded behind a button while no filter is in use. `show(matching, query)`
  // draws what matches.
  var FIELDS = ["theme", "sous_theme", "statut", "type", "audience", "annee"];
  window.bibiaFiltres = function (form, projects, show) {
    function wanted() {
      var params = {};
      new FormData(form).forEach(function (value, key) { if (value) { params[key] = value; } });
      return params;
    }
    function matcher(params) {
      var words = params.q ? window.bibiaMots(params.q) : [];
      var chosen = FIELDS.filter(function (name) { return params[name]; });
      return function (p) {
        for (var i = 0; i < words.length; i++) {
          if (!words[i].test(p.texte)) { return false; }
        }
        for (var j = 0; j < chosen.length; j++) {
          var name = chosen[j], value = params[name], have = p[name];
          if (Array.isArray(have) ? have.indexOf(value) < 0 : String(have) !== value) { return false; }
        }
        return true;
      };
    }
    var applied = null;
    function apply(push) {
      var params = wanted();
      var query = new URLSearchParams(params).toString();
      // the search box fires "change" again when it loses focus (say, to follow a card's
      // link): the list must not be rebuilt under the pointer for a search already applied
      if (query === applied) { return; }
      applied = query;
      show(projects.filter(matcher(params)), query);
      if (push) {
        history.replaceState(null, "", query ? "?" + query : location.pathname);
      }
    }
    function restore() {
      var params = new URLSearchParams(location.search);
      Array.prototype.forEach.call(form.elements, function (input) {
        if (input.name && params.has(input.name)) { input.value = params.get(input.name); }
      });
    }
    var themeSelect = document.getElementById("theme");
    var subSelect = document.getElementById("sous_theme");
    function narrow() {  // the sub-themes of another theme would find nothing
      if (!themeSelect || !subSelect) { return; }
      var theme = themeSelect.value;
      Array.prototype.forEach.call(subSelect.options, function (option) {
        var parent = option.getAttribute("data-theme");
        option.hidden = Boolean(theme && parent && parent !== theme);
        option.disabled = option.hidden;
      });
      if (subSelect.selectedOptions.length && subSelect.selectedOptions[0].hidden) {
        subSelect.value = "";
      }
    }
    function foldOnPhone() {
      if (!(window.matchMedia && window.matchMedia("(max-width: 40rem)").matches)) { return; }
      var active = Object.keys(wanted()).filter(function (k) { return k !== "q"; }).length;
      var toggle = document.createElement("button");
      toggle.type = "button"; toggle.id = "afficher-filtres";
      toggle.textContent = active ? "Filtres (" + active + " actifs)" : "Filtres";
      toggle.setAttribute("aria-expanded", String(Boolean(active)));
      toggle.setAttribute("aria-controls", "filtres");
      if (!active) { form.classList.add("replie"); }
      toggle.addEventListener("click", function () {
        var open = form.classList.toggle("replie") === false;
        toggle.setAttribute("aria-expanded", String(open));
      });
      form.querySelector(".search").appendChild(toggle);
    }
    var everything = document.getElementById("tout-voir");
    if (everything) { everything.addEventListener("click", function () { form.reset(); }); }
    form.addEventListener("change", function (event) {
      if (event.target === themeSelect) { narrow(); }
      apply(true);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(true); });
    form.addEventListener("input", function (event) {
      if (event.target.id === "q") { apply(true); }
    });
    form.addEventListener("reset", function () { setTimeout(function () { narrow(); apply(true); }, 0); });
    restore();
    narrow();
    foldOnPhone();
    apply(false);
  };

  // A list drawn `step` items at a time, the next ones behind the "more" button (`wrap`
  // hidden when there are no more): `draw(items)` starts again from the first.
  window.bibiaPages = function (list, more, wrap, step, item) {
    var items = [], shown = 0;
    function next(reset) {
      if (reset) { list.textContent = ""; shown = 0; }
      var fragment = document.createDocumentFragment();
      items.slice(shown, shown + step).forEach(function (p) { fragment.appendChild(item(p)); });
      list.appendChild(fragment);
      shown = Math.min(items.length, shown + step);
      wrap.hidden = shown >= items.length;
    }
    more.addEventListener("click", function () { next(false); });
    return function draw(found) { items = found; next(true); };
  };

  // An element with its class and its text (never read as HTML).
  window.bibiaEl = function (tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  };

  // A link to the same projects on the other page (the list, the map), filters kept.
  window.bibiaVers = function (id, query) {
    var link = document.getElementById(id);
    if (link) { link.href = link.getAttribute("href").split("?")[0] + (query ? "?" + query : ""); }
  };

  // When the data cannot be read: the page says why, and how to get it, instead of an empty
  // register (a page opened from disk, a network gone).
  window.bibiaSansDonnees = function (error, what) {
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
})();
