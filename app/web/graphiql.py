"""The GraphiQL page, with every asset served by the gateway itself.

The assets come from the npm packages pinned in package-lock.json (`npm ci` at setup);
they are never committed and never fetched at run time.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

ASSETS_URL = "/graphiql/assets"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = PROJECT_ROOT / "node_modules"
ASSETS = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Customers gateway · GraphiQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.css">
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="{assets}/react.js"></script>
  <script src="{assets}/react-dom.js"></script>
  <script src="{assets}/graphiql.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({{ url: window.location.pathname }});
    const defaultHeaders = JSON.stringify(
      {{ Authorization: "Bearer sk_test_your_key_here" }}, null, 2);
    const defaultQuery = `# Put your API key in the Headers pane below:
#   {{ "Authorization": "Bearer sk_test_…" }}
# The console of \\`scripts/serve\\` printed one on first start.

query FirstCustomers {{
  customers(first: 10) {{
    edges {{ cursor node {{ id name email createdAt }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
`;
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher,
        defaultQuery,
        defaultHeaders,
        headerEditorEnabled: true,
        shouldPersistHeaders: true,
      }}),
    );
  </script>
</body>
</html>
"""


def page_response() -> web.Response:
    return web.Response(text=PAGE.format(assets=ASSETS_URL), content_type="text/html")


async def serve_asset(request: web.Request) -> web.StreamResponse:
    relative = ASSETS.get(request.match_info["name"])
    path = NODE_MODULES / relative if relative else None
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text="No such asset. Run scripts/serve to install GraphiQL.")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def add_routes(app: web.Application) -> None:
    app.router.add_get(ASSETS_URL + "/{name}", serve_asset)
