// Starts GraphiQL on the page graph.GraphiQL serves, from the vendored
// React, ReactDOM and GraphiQL bundles (globals React, ReactDOM, GraphiQL).
//
// The element #graphiql carries the configuration:
//   data-endpoint: the GraphQL path (queries over HTTP, subscriptions over
//                  a WebSocket to the same path, graphql-transport-ws);
//   data-headers:  the default text of the headers editor;
//   data-storage:  the localStorage namespace of GraphiQL's tabs and editors.
// The headers the user enters are sent with every HTTP request and, for
// subscriptions, as the connection_init payload of the WebSocket.
(function () {
  "use strict";

  var el = document.getElementById("graphiql");
  var endpoint = new URL(el.getAttribute("data-endpoint") || "/graphql", window.location.href);
  var ws = new URL(endpoint.href);
  ws.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // The page has no stylesheet of its own: GraphiQL fills the window.
  document.documentElement.style.height = "100%";
  document.body.style.height = "100%";
  document.body.style.margin = "0";
  el.style.height = "100vh";

  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: ws.href,
  });

  var props = {
    fetcher: fetcher,
    defaultHeaders: el.getAttribute("data-headers") || "",
    shouldPersistHeaders: false,
  };
  var ns = el.getAttribute("data-storage");
  if (ns) props.storage = GraphiQL.createLocalStorage({ namespace: ns });

  ReactDOM.createRoot(el).render(React.createElement(GraphiQL, props));
})();
