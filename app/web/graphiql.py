"""The GraphiQL page, with every asset served by the gateway itself.

The assets come from the npm packages pinned in package-lock.json: `scripts/setup`
runs `npm ci`, then `scripts/graphiql_assets` copies them into `graphiql_assets/` beside
this module, which the built package carries (a development checkout also finds them
in node_modules). They are never committed and never fetched at run time; where they
are missing, the page says which and how to get them. GraphiQL 3 ships a UMD bundle
with its fonts inlined in the CSS, and React 18 and graphql-ws ship UMD builds, so no
bundler is needed. The page's Content-Security-Policy lets it load and call nothing but
this origin: its `connect-src 'self'` covers the WebSocket to this host and port too
(CSP Level 3; Chrome 71, Firefox and Safari 16 on).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from aiohttp import web

ASSETS_URL = "/graphiql/assets"
PACKAGED_ASSETS = Path(__file__).resolve().parent / "graphiql_assets"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
ASSETS = {
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
    "graphql-ws.min.js": "graphql-ws/umd/graphql-ws.min.js",
}

KEY_HINT = (
    'Put your API key in the Headers tab below the query: {"Authorization": "Bearer sk_test_…"}'
)

# Runs in the page; kept apart from PAGE so its hash can go into the CSP. Subscriptions
# go over a WebSocket to this URL whose connection_init carries the Headers tab (the key).
# Not createFetcher's subscriptionUrl: its client retries a refused key (4403) for 30 to
# 45 seconds before GraphiQL shows anything; this one, made per operation, reports it
# at once.
SCRIPT = """
const socketUrl = window.location.origin.replace(/^http/, "ws") + window.location.pathname;
const fetcher = (params, options) => GraphiQL.createFetcher({
  url: window.location.pathname,
  wsClient: graphqlWs.createClient({
    url: socketUrl,
    connectionParams: (options && options.headers) || {},
    retryAttempts: 0,
  }),
})(params, options);
const defaultHeaders = JSON.stringify(
  { Authorization: "Bearer sk_test_your_key_here" }, null, 2);
const defaultQuery = `# Your API key goes in the Headers tab below:
#   { "Authorization": "Bearer sk_test_…" }
# scripts/serve printed one on first start; more:
#   python -m app keys create --account NAME
# Then click ↻ (bottom left) to load the schema.
# The key is not saved in this browser.
# Subscriptions run too (over a WebSocket):
#   subscription { customerEvents { id type customer { name } } }

query FirstCustomers {
  customers(first: 10) {
    edges { cursor node { id name email createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
`;
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    defaultHeaders,
    headerEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
    shouldPersistHeaders: false,
  }),
);
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Customers gateway · GraphiQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>
    body {{ margin: 0; height: 100vh; display: flex; flex-direction: column;
           font-family: system-ui, sans-serif; }}
    #key-hint {{ padding: 6px 12px; font-size: 14px; background: #fff8e1;
                border-bottom: 1px solid #e0c97f; }}
    #graphiql {{ flex: 1; min-height: 0; }}
  </style>
</head>
<body>
  <div id="key-hint" role="note">{hint}</div>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
  <script src="{assets}/graphql-ws.min.js"></script>
  <script>{script}</script>
</body>
</html>
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' 'sha256-{_SCRIPT_HASH}'",
        # GraphiQL and CodeMirror set inline styles; its fonts are data: URLs in the CSS.
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


MISSING_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Customers gateway · GraphiQL is not installed</title></head>
<body>
  <h1>GraphiQL's assets are missing</h1>
  <p>This gateway was installed without the files GraphiQL runs from:</p>
  <ul>{missing}</ul>
  <p>In a checkout, run <code>scripts/setup</code> (it runs <code>npm ci</code>, then
  <code>scripts/graphiql_assets</code>). To build a package that carries them, run
  <code>scripts/graphiql_assets</code> before <code>pip install .</code> or building the
  wheel. The API at this URL works without them.</p>
</body>
</html>
"""


def asset_path(name: str, directories: tuple[Path, Path] | None = None) -> Path | None:
    """Where an asset's file is: in the package, else in a checkout's node_modules."""
    relative = ASSETS.get(name)
    if relative is None:
        return None
    packaged, modules = directories or (PACKAGED_ASSETS, NODE_MODULES)
    for path in (packaged / name, modules / relative):
        if path.is_file():
            return path
    return None


def page_response(directories: tuple[Path, Path] | None = None) -> web.Response:
    missing = [name for name in ASSETS if asset_path(name, directories) is None]
    if missing:
        items = "".join(f"<li><code>{name}</code> (npm: {ASSETS[name]})</li>" for name in missing)
        html = MISSING_PAGE.format(missing=items)
    else:
        hint = KEY_HINT.replace("&", "&amp;").replace("<", "&lt;")
        html = PAGE.format(assets=ASSETS_URL, hint=hint, script=SCRIPT)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def serve_asset(request: web.Request) -> web.StreamResponse:
    path = asset_path(request.match_info["name"])
    if path is None:
        # Returned, not raised: the error middleware turns raised 404s into JSON and
        # would drop this text.
        return web.Response(
            status=404,
            text="No such asset. Run scripts/setup (or scripts/graphiql_assets) to install it.",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    return web.FileResponse(
        path,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(ASSETS_URL + "/{name}", serve_asset)
