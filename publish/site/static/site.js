// The home page: the cards of the projects the filters and the search find (`projets.js`),
// sixty at a time. Cards are built with DOM text only: nothing a contributor typed is ever
// read as HTML, and only http(s) addresses become links or images.
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
  var el = window.bibiaEl;

  function web(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }
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
  var draw = window.bibiaPages(list, more, moreWrap, STEP, card);
  function show(found, query) {
    count.textContent = found.length;
    none.hidden = found.length > 0;
    count.parentNode.lastChild.textContent = found.length === 1 ? " projet" : " projets";
    draw(found);
    window.bibiaVers("vers-carte", query);
  }
  var pagination = document.querySelector(".pagination");
  window.bibiaProjets(root + "data/projets.json").then(function (projects) {
    if (pagination) { pagination.hidden = true; }
    window.bibiaFiltres(form, projects, show);
    window.__bibiaReady = true;  // the list is the script's from now on (the tests wait for it)
    if (window.performance && performance.mark) { performance.mark("bibia:pret"); }  // measured
  }).catch(function (error) {
    form.hidden = true;  // filters that would find nothing: the cards written in the page stay
    window.bibiaSansDonnees(error, "la recherche avec ses filtres");
  });
})();
