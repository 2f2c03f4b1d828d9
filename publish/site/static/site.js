// The home page: filters and free-text search over every project, the state of the filters
// kept in the address (to share a filtered view). Cards are built with DOM text only: nothing
// a contributor typed is ever read as HTML, and only http(s) addresses become links or images.
(function () {
  "use strict";
  var form = document.getElementById("filtres");
  var list = document.getElementById("cartes");
  var count = document.getElementById("nombre");
  var more = document.getElementById("plus");
  var none = document.getElementById("aucun");
  var moreWrap = document.getElementById("plus-wrap");
  if (!form || !list || !window.bibiaProjets) { return; }
  var root = document.body.getAttribute("data-root") || "";
  var STEP = 60;
  var projects = [];
  var shown = 0;
  var matching = [];
  var fields = ["theme", "sous_theme", "statut", "type", "audience", "annee"];

  function fold(text) {
    return (text || "").toString().normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .toLowerCase();
  }
  function web(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function card(p) {
    var li = el("li", "card");
    var article = el("article");
    article.setAttribute("aria-labelledby", "t-" + p.id);
    if (web(p.logo)) {
      var img = el("img", "logo");
      img.src = p.logo; img.alt = "Logo de " + p.porteur; img.loading = "lazy";
      img.referrerPolicy = "no-referrer"; img.width = 64; img.height = 64;
      article.appendChild(img);
    } else {
      var placeholder = el("span", "logo placeholder", p.initiales);
      placeholder.setAttribute("aria-hidden", "true");
      article.appendChild(placeholder);
    }
    var h3 = el("h3"); h3.id = "t-" + p.id;
    var a = el("a", null, p.nom); a.href = root + p.page;
    h3.appendChild(a); article.appendChild(h3);
    article.appendChild(el("p", "porteur", p.porteur));
    var tags = el("p", "tags");
    tags.appendChild(el("span", "tag theme", p.theme)); tags.appendChild(document.createTextNode(" "));
    tags.appendChild(el("span", "tag statut", p.statut));
    article.appendChild(tags);
    article.appendChild(el("p", "extrait", p.extrait));
    li.appendChild(article);
    return li;
  }
  function wanted() {
    var params = {};
    new FormData(form).forEach(function (value, key) { if (value) { params[key] = value; } });
    return params;
  }
  function matches(p, params) {
    if (params.q) {
      var words = fold(params.q).split(/\s+/).filter(Boolean);
      for (var i = 0; i < words.length; i++) {
        if (p.texte.indexOf(words[i]) < 0) { return false; }
      }
    }
    for (var j = 0; j < fields.length; j++) {
      var name = fields[j], value = params[name];
      if (!value) { continue; }
      var have = p[name];
      if (Array.isArray(have) ? have.indexOf(value) < 0 : String(have) !== value) { return false; }
    }
    return true;
  }
  function render(reset) {
    if (reset) { list.textContent = ""; shown = 0; }
    var next = matching.slice(shown, shown + STEP);
    var fragment = document.createDocumentFragment();
    next.forEach(function (p) { fragment.appendChild(card(p)); });
    list.appendChild(fragment);
    shown += next.length;
    moreWrap.hidden = shown >= matching.length;
  }
  var applied = null;
  function apply(push) {
    var params = wanted();
    var query = new URLSearchParams(params).toString();
    // the search box fires "change" again when it loses focus (say, to follow a card's link):
    // the list must not be rebuilt under the pointer for a search already applied
    if (query === applied) { return; }
    applied = query;
    matching = projects.filter(function (p) { return matches(p, params); });
    count.textContent = matching.length;
    none.hidden = matching.length > 0;
    count.parentNode.lastChild.textContent = matching.length === 1 ? " projet" : " projets";
    render(true);
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
  // the sub-themes of the chosen theme only (those of another theme would find nothing)
  var themeSelect = document.getElementById("theme");
  var subSelect = document.getElementById("sous_theme");
  function narrow() {
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
  // on a phone, the filters folded behind a button while none is in use: the cards first
  var narrowScreen = window.matchMedia && window.matchMedia("(max-width: 40rem)").matches;
  function fold_filters() {
    if (!narrowScreen) { return; }
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
  document.getElementById("tout-voir").addEventListener("click", function () { form.reset(); });
  form.addEventListener("change", function (event) {
    if (event.target === themeSelect) { narrow(); }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(true); });
  form.addEventListener("change", function () { apply(true); });
  form.addEventListener("input", function (event) {
    if (event.target.id === "q") { apply(true); }
  });
  form.addEventListener("reset", function () { setTimeout(function () { narrow(); apply(true); }, 0); });
  more.addEventListener("click", function () { render(false); });
  var pagination = document.querySelector(".pagination");
  window.bibiaProjets(root + "data/projets.json").then(function (data) {
    projects = data.map(function (p) {
      p.texte = fold([p.nom, p.porteur, p.theme, p.extrait, (p.sous_theme || []).join(" "),
        p.statut, p.type].join(" "));
      return p;
    });
    if (pagination) { pagination.hidden = true; }
    restore();
    narrow();
    fold_filters();
    apply(false);
    window.__bibiaReady = true;  // the list is the script's from now on (the tests wait for it)
  }).catch(function (error) {
    form.hidden = true;  // filters that would find nothing: the cards written in the page stay
    window.bibiaSansDonnees(error, "la recherche avec ses filtres");
  });
})();
