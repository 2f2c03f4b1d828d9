// A real OpenID provider (node-oidc-provider, certified) set up as ProConnect is published:
// discovery, the authorization code flow with `state`, `nonce` and an `acr` asked through the
// `claims` parameter, an id_token and a userinfo answered as signed JWTs (application/jwt),
// ProConnect's claims (given_name, usual_name, email, uid, siret, idp_id...), and logout through
// `end_session_endpoint` coming back with the same `state`. For the demo and the tests only.
//
// Started by bibia/emulators/openid.py, which passes its setup as JSON on stdin:
//   {"clients": [{client_id, client_secret, redirect_uris, post_logout_redirect_uris}],
//    "accounts": {"<login>": {claims...}}, "acr": "eidas1", "host": "127.0.0.1", "port": 0}
// and reads the first line it prints: {"issuer": "http://127.0.0.1:PORT"}.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

// the setup is stdin's first line; stdin's end (the parent gone) ends the provider
const setup = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    text += chunk;
    if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
  });
  process.stdin.on('end', () => process.exit(0));
}));

const CLAIMS = ['given_name', 'usual_name', 'email', 'uid', 'siret', 'siren', 'idp_id',
  'organizational_unit', 'belonging_population', 'phone'];
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

const server = http.createServer();
await new Promise((resolve) => server.listen(setup.port || 0, setup.host || '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://${setup.host || '127.0.0.1'}:${port}`;
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: setup.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
    userinfo_signed_response_alg: 'RS256',
    ...client,
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', ...CLAIMS],
  claims: Object.fromEntries([['openid', ['sub']], ...CLAIMS.map((name) => [name, [name]])]),
  acrValues: [setup.acr || 'eidas1'],
  pkce: { required: () => false },
  ttl: { AuthorizationCode: 30, AccessToken: 60, IdToken: 600, Interaction: 600, Session: 12 * 3600, Grant: 12 * 3600 },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // ProConnect ends its session at once: the form is sent without asking
      logoutSource: async (ctx, form) => {
        ctx.body = page('Déconnexion', `${form}<input type="hidden" form="op.logoutForm" name="logout" value="yes">
<noscript><button type="submit" form="op.logoutForm">Se déconnecter</button></noscript>
<script nonce="${ctx.oidc.cspNonce ?? ''}">document.getElementById('op.logoutForm').submit()</script>`);
      },
      postLogoutSuccessSource: async (ctx) => { ctx.body = page('Vous êtes déconnecté', ''); },
    },
  },
  findAccount: async (_ctx, id) => (setup.accounts[id]
    ? { accountId: id, claims: async () => ({ sub: id, ...setup.accounts[id] }) }
    : undefined),
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => { ctx.type = 'html'; ctx.body = page('Erreur du fournisseur d\'identité', `<p id="error">${escape(out.error)} : ${escape(out.error_description ?? '')}</p>`); },
});

const loginForm = (uid, message) => page('Connexion (fournisseur de démonstration)',
  `${message ? `<p id="message">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="login">Adresse électronique</label> <input id="login" name="login" autocomplete="off">
<button id="submit" type="submit">Se connecter</button></form>
<ul>${Object.keys(setup.accounts).map((a) => `<li>${escape(a)}</li>`).join('')}</ul>`);

async function formBody(req) {
  let text = '';
  for await (const chunk of req) { text += chunk; if (text.length > 10000) break; }
  return new URLSearchParams(text);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (action === 'login' && req.method === 'POST') {
    const login = (await formBody(req)).get('login')?.trim() ?? '';
    if (!setup.accounts[login]) {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(loginForm(uid, 'Compte inconnu'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login, acr: setup.acr || 'eidas1' } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(loginForm(uid));
    return;
  }
  // consent: granted at once, as ProConnect does for a registered service
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login))?$/.exec(req.url.split('?')[0]);
  if (!match) { callback(req, res); return; }
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    res.statusCode = 400;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page('Erreur du fournisseur d\'identité', `<p id="error">${escape(error.message)}</p>`));
  }
});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => process.exit(0));
