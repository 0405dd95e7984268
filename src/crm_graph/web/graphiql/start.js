// crm-graph's GraphiQL page: the pinned GraphiQL release beside this file (no CDN), with the
// explorer plugin, and the Authorization header prefilled from the key the web app signed in
// with (kept in this origin's session storage by /app; never put in the URL).
(function () {
  "use strict";
  var key = window.sessionStorage.getItem("crm-graph.apiKey");
  var url = window.location.origin + "/graphql";
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: url.replace(/^http/, "ws"),
    wsConnectionParams: key ? { Authorization: "Bearer " + key } : undefined,
  });
  var headers = key
    ? JSON.stringify({ Authorization: "Bearer " + key }, null, 2)
    : JSON.stringify({ Authorization: "Bearer <your API key>" }, null, 2);
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      headers: headers,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      defaultQuery: "# Signed in at /app? Your key is in the Headers tab below.\n{\n  viewer {\n    name\n    role\n    permissions\n  }\n}\n",
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    }),
  );

  // What the pinned release leaves out for assistive technology (axe-core: label, select-name,
  // scrollable-region-focusable), added as its elements appear: each editor's text area is
  // named after its region, the explorer's "Add new" choice is named, and an editor's
  // scrolling area can be reached with the keyboard.
  function label(node) {
    node.querySelectorAll(".CodeMirror textarea:not([aria-label])").forEach(function (area) {
      var region = area.closest("[aria-label]");
      area.setAttribute("aria-label", region ? region.getAttribute("aria-label") : "Editor");
    });
    node.querySelectorAll('.CodeMirror-scroll:not([tabindex="0"])').forEach(function (scroll) {
      scroll.setAttribute("tabindex", "0");
    });
    node.querySelectorAll(".graphiql-explorer-actions select:not([aria-label])").forEach(
      function (choice) {
        choice.setAttribute("aria-label", "Operation type to add");
      },
    );
  }
  new MutationObserver(function () {
    label(document.body);
  }).observe(document.body, { childList: true, subtree: true });
  label(document.body);
})();
