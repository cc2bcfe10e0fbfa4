// Renders the API reference of this polyjobs server from the contract it
// serves at openapi.json, with the vendored Scalar bundle, and nothing
// loaded from anywhere else.
(function () {
  'use strict';
  // The server's root, from the page's own address (/docs): the page then
  // also works behind a proxy that serves polyjobs under a path prefix.
  var root = new URL('.', window.location.href).href.replace(/\/$/, '');
  window.Scalar.createApiReference('#app', {
    url: root + '/openapi.json',
    // "Try it" talks to this server, not to the production server the
    // contract names.
    servers: [{ url: root, description: 'This polyjobs server' }],
    authentication: { preferredSecurityScheme: 'bearerUserAPIKey' },
    // Keys typed into the page stay in the page, not in local storage.
    persistAuth: false,
    // Nothing leaves this server: no telemetry, no fonts from a CDN, no AI
    // agent or MCP features. proxyUrl stays unset: requests go straight to
    // this server, never through Scalar's proxy.
    telemetry: false,
    withDefaultFonts: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    showDeveloperTools: 'never',
    defaultOpenAllTags: true,
  });
})();
