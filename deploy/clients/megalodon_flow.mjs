#!/usr/bin/env node
// Drives Tusk through megalodon, the TypeScript Mastodon client library many Node and Electron
// apps are built on (this project did not write it), the way such an app does: detect the
// server, register an app, sign up and sign in, read the instance, post, read home, follow and
// favourite, read notifications, upload a photo and post it, search, save and read markers, and
// listen on the user stream (WebSocket) for an `update` and a `notification`.
//
// Usage: megalodon_flow.mjs BASE_URL   (exits non-zero, with the failing step, on any failure)
// megalodon is looked up in $TUSK_CLIENTS_NODE/node_modules (default
// ~/.cache/tusk/tools/clients-node), which deploy/clients/install.sh fills from
// deploy/clients/package-lock.json; crates/tusk/tests/api/clients.rs runs this.
//
// Where megalodon has no call for something, raw fetch does it, as an app would: the app token
// (client_credentials) for the sign-up, and the password grant.

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { deflateSync, crc32 } from 'node:zlib';
import { join } from 'node:path';

const NODE_DIR = process.env.TUSK_CLIENTS_NODE || join(homedir(), '.cache/tusk/tools/clients-node');
// the package lives outside this repo, and ES imports ignore NODE_PATH: resolve it from there
const require = createRequire(join(NODE_DIR, 'package.json'));
const { default: generator, detector } = require('megalodon');

const SCOPES = ['read', 'write', 'follow'];
const PASSWORD = 'correct horse battery staple';
const NO_REDIRECT = 'urn:ietf:wg:oauth:2.0:oob';

let currentStep = 'start';

function step(name) {
  currentStep = name;
  console.log(`-- ${name}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A real PNG (a colour gradient), for the upload. */
function tinyPng(width, height) {
  const rows = [];
  for (let y = 0; y < height; y++) {
    rows.push(0);
    for (let x = 0; x < width; x++) rows.push((x * 255 / width) | 0, (y * 255 / height) | 0, 128);
  }
  const chunk = (kind, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a truthy value (fan-out and notifications are asynchronous). */
async function eventually(what, probe, limitMs = 20000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** A form POST with fetch, for what megalodon has no call for; answers the JSON body. */
async function postForm(url, fields) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const response = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(fields) });
  const text = await response.text();
  check(response.ok, `POST ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** Every event of one kind a stream emits, kept for later checks. */
function record(stream, event) {
  const seen = [];
  stream.on(event, (entity) => seen.push(entity));
  return seen;
}

async function main(base) {
  const suffix = randomBytes(4).toString('hex');

  step('detect the server (NodeInfo)');
  const sns = await detector(base);
  check(sns === 'mastodon', `detector() said ${JSON.stringify(sns)}, not "mastodon"`);

  step('register an app');
  const anonymous = generator('mastodon', base);
  const app = await anonymous.registerApp('tusk-megalodon-flow', {
    scopes: SCOPES,
    redirect_uris: NO_REDIRECT,
    website: 'https://example.org/tusk',
  });
  check(app.client_id && app.client_secret, `registerApp gave no credentials: ${JSON.stringify(app)}`);
  check(app.url && app.url.startsWith(`${base}/oauth/authorize`), `authorize URL is ${app.url}`);

  step('get an app token (client_credentials, raw fetch: megalodon has no call for it)');
  const appToken = await postForm(`${base}/oauth/token`, {
    grant_type: 'client_credentials',
    client_id: app.client_id,
    client_secret: app.client_secret,
    scope: SCOPES.join(' '),
  });
  check(appToken.access_token, `no app token: ${JSON.stringify(appToken)}`);

  step('sign up alice and bob (registerAccount with the app token)');
  const signup = generator('mastodon', base, appToken.access_token);
  const users = {};
  for (const name of ['alice', 'bob']) {
    const username = `${name}${suffix}`;
    const token = (await signup.registerAccount(username, `${username}@example.org`, PASSWORD, true, 'en')).data;
    check(token.access_token, `registerAccount gave no token for ${username}: ${JSON.stringify(token)}`);
    const client = generator('mastodon', base, token.access_token);
    const me = (await client.verifyAccountCredentials()).data;
    check(me.username === username, `the sign-up token of ${username} is ${me.username}'s`);
    users[name] = { username, client, me };
  }

  step('sign in as alice with the password grant (username = email, raw fetch)');
  const login = await postForm(`${base}/oauth/token`, {
    grant_type: 'password',
    client_id: app.client_id,
    client_secret: app.client_secret,
    username: `${users.alice.username}@example.org`,
    password: PASSWORD,
    scope: SCOPES.join(' '),
  });
  check(login.access_token, `password grant gave no token: ${JSON.stringify(login)}`);
  const alice = generator('mastodon', base, login.access_token);
  const aliceMe = (await alice.verifyAccountCredentials()).data;
  check(aliceMe.id === users.alice.me.id, 'signed in as someone else');
  const bob = users.bob.client;
  const bobMe = users.bob.me;

  step('read the instance (getInstance)');
  const instance = (await alice.getInstance()).data;
  check(instance.uri, `the instance has no uri: ${JSON.stringify(instance)}`);
  check(/^4\./.test(instance.version), `version ${instance.version} does not read as Mastodon 4`);
  check(/^wss?:\/\//.test(instance.urls?.streaming_api ?? ''),
    `urls.streaming_api is ${instance.urls?.streaming_api}: userStreaming() connects there`);

  step('open alice\'s user stream (userStreaming, WebSocket)');
  const stream = await alice.userStreaming();
  const streamErrors = [];
  // an 'error' event with no listener would throw out of the library's socket handler
  stream.on('error', (error) => streamErrors.push(`socket error: ${error?.message ?? error}`));
  stream.on('parser-error', (error) => streamErrors.push(`unreadable event: ${error?.message ?? error}`));
  const updates = record(stream, 'update');
  const notified = record(stream, 'notification');
  // the socket opens asynchronously: the listener is attached before it can
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the user stream did not connect: ${streamErrors.join('; ')}`)), 10000);
    stream.once('connect', () => { clearTimeout(timer); resolve(); });
  });

  try {
    // The server subscribes the socket to the user's events once it is open, a moment after
    // the client sees it open (as Mastodon's streaming server does): a post in between is
    // never streamed. So, as a careful app, warm up until a post of alice's comes through.
    step('the user stream is live: alice posts until one post arrives as an `update`');
    await eventually('an update event for a warm-up post', async () => {
      const warmup = (await alice.postStatus(`warm-up ${suffix} ${Date.now()}`, { visibility: 'public' })).data;
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) {
        if (updates.some((s) => s.id === warmup.id)) return true;
        await sleep(100);
      }
      return false;
    });

    step('alice posts (postStatus)');
    const text = `Hello from megalodon ${suffix}`;
    const own = (await alice.postStatus(text, { visibility: 'public' })).data;
    check(own.id && own.content.includes(text), `posted status is ${JSON.stringify(own)}`);

    step('the post is in alice\'s home (getHomeTimeline)');
    await eventually('alice\'s post in her home',
      async () => (await alice.getHomeTimeline({ limit: 40 })).data.some((s) => s.id === own.id));

    step('the user stream delivers it as an `update`');
    await eventually('an update event for alice\'s post', () => updates.some((s) => s.id === own.id));

    step('bob follows alice and favourites her post');
    const relationship = (await bob.followAccount(aliceMe.id)).data;
    check(relationship.following || relationship.requested, `bob does not follow: ${JSON.stringify(relationship)}`);
    const favourited = (await bob.favouriteStatus(own.id)).data;
    check(favourited.id === own.id && favourited.favourited, `favouriteStatus answered ${JSON.stringify(favourited)}`);

    step('alice has a `follow` and a `favourite` notification from bob (getNotifications)');
    const notifications = await eventually('both notifications', async () => {
      const page = (await alice.getNotifications({ limit: 30 })).data;
      const follow = page.find((n) => n.type === 'follow' && n.account.id === bobMe.id);
      const favourite = page.find((n) => n.type === 'favourite' && n.account.id === bobMe.id);
      return follow && favourite && favourite.status?.id === own.id ? page : null;
    });

    step('the user stream delivers the favourite as a `notification`');
    await eventually('a favourite notification event', () =>
      notified.some((n) => n.type === 'favourite' && n.account.id === bobMe.id && n.status?.id === own.id));

    step('alice uploads a photo (uploadMedia: /api/v2/media, then getMedia until processed) and posts it');
    const photoPath = join(tmpdir(), `tusk-megalodon-${suffix}.png`);
    writeFileSync(photoPath, tinyPng(64, 48));
    const uploaded = (await alice.uploadMedia(createReadStream(photoPath), { description: 'a gradient' })).data;
    check(uploaded.id, `uploadMedia answered ${JSON.stringify(uploaded)}`);
    const media = await eventually('the photo to be processed', async () => {
      const seen = (await alice.getMedia(uploaded.id)).data;
      return seen.url ? seen : null;
    });
    const photo = (await alice.postStatus(`A photo from megalodon ${suffix}`, { media_ids: [media.id] })).data;
    check(photo.media_attachments?.[0]?.id === media.id, `the post's attachments are ${JSON.stringify(photo.media_attachments)}`);

    step('the photo reaches bob\'s home (getHomeTimeline), and both of its files download');
    const shown = await eventually('the photo in bob\'s home', async () =>
      (await bob.getHomeTimeline({ limit: 40 })).data.find((s) => s.id === photo.id));
    const attachment = shown.media_attachments[0];
    check(attachment.type === 'image' && attachment.description === 'a gradient', `attachment is ${JSON.stringify(attachment)}`);
    for (const field of ['url', 'preview_url']) {
      const response = await fetch(attachment[field]);
      const kind = response.headers.get('content-type') ?? '';
      check(response.ok && kind.startsWith('image/'), `${field} ${attachment[field]} answered ${response.status} ${kind}`);
      check((await response.arrayBuffer()).byteLength > 0, `${field} is empty`);
    }

    step('alice finds bob (search, type accounts)');
    const results = (await alice.search(users.bob.username, { type: 'accounts' })).data;
    check(results.accounts.some((a) => a.id === bobMe.id),
      `search found ${JSON.stringify(results.accounts.map((a) => a.acct))}, not ${users.bob.username}`);
    check(results.statuses.length === 0 && results.hashtags.length === 0, 'type=accounts answered other types too');

    step('alice finds bob (searchAccount: /api/v1/accounts/search)');
    const accounts = (await alice.searchAccount(users.bob.username, { limit: 5 })).data;
    check(accounts.some((a) => a.id === bobMe.id), `searchAccount found ${JSON.stringify(accounts.map((a) => a.acct))}`);

    step('markers: save home and notifications (saveMarkers), read them back (getMarkers)');
    const before = (await alice.getMarkers(['home', 'notifications'])).data;
    // a timeline with no marker saved is left out: a new user's answer is {}
    check(before && Object.keys(before).length === 0, `a new user's getMarkers answered ${JSON.stringify(before)}`);
    const latest = notifications[0].id;
    const saved = (await alice.saveMarkers({ home: { last_read_id: own.id }, notifications: { last_read_id: latest } })).data;
    check(saved.home?.last_read_id === own.id, `saveMarkers home is ${JSON.stringify(saved.home)}`);
    check(saved.notifications?.last_read_id === latest, `saveMarkers notifications is ${JSON.stringify(saved.notifications)}`);
    const markers = (await alice.getMarkers(['home', 'notifications'])).data;
    for (const [timeline, id] of [['home', own.id], ['notifications', latest]]) {
      const marker = markers[timeline];
      check(marker?.last_read_id === id, `getMarkers ${timeline} is ${JSON.stringify(marker)}, not ${id}`);
      check(Number.isInteger(marker.version) && marker.updated_at, `${timeline} marker lacks version or updated_at`);
    }
    const homeOnly = (await alice.getMarkers(['home'])).data;
    check(homeOnly.home && !homeOnly.notifications, `getMarkers(['home']) answered ${JSON.stringify(homeOnly)}`);

    check(streamErrors.length === 0, `the user stream reported: ${streamErrors.join('; ')}`);
  } finally {
    stream.stop();
  }

  console.log('megalodon_flow: every step passed');
}

const base = process.argv[2];
if (process.argv.length !== 3 || !base) {
  console.error(`usage: ${process.argv[1]} BASE_URL`);
  process.exit(2);
}
try {
  await main(base.replace(/\/+$/, ''));
  // the library's stream keeps timers (heartbeat, reconnect); nothing else is left to wait for
  process.exit(0);
} catch (error) {
  // axios errors carry the server's answer: show it
  const response = error?.response;
  if (response) {
    console.error(`HTTP ${response.status} from ${response.config?.method?.toUpperCase()} ${response.config?.url}: ${JSON.stringify(response.data)}`);
  }
  console.error(error?.stack ?? error);
  console.error(`megalodon_flow FAILED at "${currentStep}": ${error?.message ?? error}`);
  process.exit(1);
}
