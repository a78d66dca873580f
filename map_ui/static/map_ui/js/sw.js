/* Rasad service worker, served at /sw.js (scope /) by map_ui.views_citizen.service_worker,
   which puts `self.RASAD_SW` in front of this file: the version, the app shell to precache,
   the pages to warm and the offline message in every language.

   - static files: cache first (a new version precaches them again and drops the old cache);
   - pages, the category list, tracking, the crew's day and the street layer: network first,
     falling back to the last copy (the crew works with poor signal);
   - /jsi18n/ is one URL whose answer depends on the language cookie: each answer is kept
     under its Content-Language and an offline page gets the catalogue of its own language;
   - POSTs are never touched: the pages keep unsent reports in IndexedDB themselves. */
"use strict";

const SW = self.RASAD_SW || { version: "dev", pages: ["/"], static: [], warm: [], offline: {} };
const STATIC_CACHE = `rasad-static-${SW.version}`;
const PAGES_CACHE = "rasad-pages";
const API_CACHE = "rasad-api";
const MEDIA_CACHE = "rasad-media";
const MEDIA_MAX = 200;
const NETWORK_TIMEOUT_MS = 8000;
const API_NETWORK_FIRST = [
  /^\/api\/v1\/categories\/$/,
  /^\/api\/v1\/track\/[^/]+\/$/,
  /^\/api\/v1\/crew\/today\/$/,
  /^\/api\/v1\/map\/roads\/$/,
];
// The language of the page each client shows, from its Content-Language (for /jsi18n/).
const clientLanguage = new Map();
let lastLanguage = null;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const statics = await caches.open(STATIC_CACHE);
    await statics.addAll(SW.static.map((url) => new Request(url, { cache: "reload" })));
    const pages = await caches.open(PAGES_CACHE);
    await Promise.all([...SW.pages, ...SW.warm].map(async (url) => {
      try {
        const response = await fetch(new Request(url, { cache: "reload", credentials: "same-origin" }));
        // A crew page that answers with the login page is not the crew page.
        if (!keep(response)) return;
        if (url.startsWith("/api/")) await (await caches.open(API_CACHE)).put(apiKey(new Request(url)), response);
        else await pages.put(new URL(url, self.location.origin).href, response);
      } catch (e) { /* offline at install: they are cached on the first visit instead */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith("rasad-static-") && n !== STATIC_CACHE)
      .map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method !== "GET") {
    if (request.method === "POST" && url.pathname === "/accounts/logout/") event.waitUntil(forgetPrivate());
    return;
  }
  // Open data downloads (a year of a city can be a hundred megabytes) go straight to the
  // network: never kept in the page cache, never answered with an old copy.
  if (url.pathname.startsWith("/open-data/incidents.")) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname === "/jsi18n/") {
    event.respondWith(catalogue(event));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request, STATIC_CACHE));
  } else if (url.pathname.startsWith("/media/")) {
    event.respondWith(cacheFirst(request, MEDIA_CACHE, MEDIA_MAX));
  } else if (url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(request, PAGES_CACHE, url.pathname));
  } else if (API_NETWORK_FIRST.some((re) => re.test(url.pathname))) {
    event.respondWith(networkFirst(request, API_CACHE, apiKey(request)));
  }
});

/* API answers depend on Accept-Language (translated names): one copy per language. */
function apiKey(request) {
  const url = new URL(request.url);
  url.searchParams.set("__lang", (request.headers.get("Accept-Language") || "").slice(0, 5));
  return url.href;
}

function fetchWithTimeout(request, hasFallback) {
  const network = fetch(request);
  if (!hasFallback) return network;
  return Promise.race([network, new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("timeout")), NETWORK_TIMEOUT_MS);
  })]);
}

function keep(response) {
  return response && response.ok && response.type === "basic" && !response.redirected;
}

async function networkFirst(request, cacheName, key) {
  const cache = await caches.open(cacheName);
  const cached = await cache.match(key || request, { ignoreVary: true });
  try {
    const response = await fetchWithTimeout(request, !!cached);
    if (keep(response)) await cache.put(key || request, response.clone());
    return response;
  } catch (e) {
    // No copy in this language or for this query: any copy of the same path beats none.
    return cached || (await cache.match(request.url, { ignoreSearch: true, ignoreVary: true })) ||
      Response.error();
  }
}

async function cacheFirst(request, cacheName, maxEntries) {
  const cache = await caches.open(cacheName);
  const cached = await cache.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (keep(response)) {
    await cache.put(request, response.clone());
    if (maxEntries) trim(cache, maxEntries);
  }
  return response;
}

async function trim(cache, maxEntries) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - maxEntries)).map((k) => cache.delete(k)));
}

async function page(event) {
  const request = event.request;
  const url = new URL(request.url);
  const cache = await caches.open(PAGES_CACHE);
  const key = url.origin + url.pathname;  // ?next= and the like do not change the shell
  const cached = await cache.match(key, { ignoreVary: true });
  let response;
  try {
    response = await fetchWithTimeout(request, !!cached);
    // A survey's page is one reporter's, answered once: never kept.
    if (keep(response) && !url.search && !url.pathname.startsWith("/survey/")) await cache.put(key, response.clone());
  } catch (e) {
    response = cached || await fallbackPage(cache, url);
  }
  const lang = response.headers.get("Content-Language");
  if (lang) {
    lastLanguage = lang;
    if (event.resultingClientId) clientLanguage.set(event.resultingClientId, lang);
  }
  return response;
}

async function fallbackPage(cache, url) {
  const shell = url.pathname.startsWith("/track/") ? "/track/" : url.pathname.startsWith("/crew/") ? "/crew/" : "/";
  const cached = await cache.match(shell, { ignoreVary: true });
  if (cached && (shell !== "/" || url.pathname === "/")) return cached;
  const lines = Object.entries(SW.offline || {}).map(([lang, text]) =>
    `<p lang="${lang}" dir="${lang === "ar" || lang === "fa" ? "rtl" : "ltr"}">${text}</p>`).join("");
  return new Response(`<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>Rasad</title><body style="font-family:system-ui,sans-serif;padding:1rem">${lines}<p><a href="/">Rasad</a></p></body>`,
  { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

async function catalogue(event) {
  const cache = await caches.open(PAGES_CACHE);
  const lang = clientLanguage.get(event.clientId) || lastLanguage;
  const key = (l) => `/jsi18n/?__lang=${encodeURIComponent(l || "")}`;
  const cached = lang ? await cache.match(key(lang), { ignoreVary: true }) : null;
  try {
    const response = await fetchWithTimeout(event.request, !!cached);
    const served = response.headers.get("Content-Language");
    if (keep(response) && served) await cache.put(key(served), response.clone());
    return response;
  } catch (e) {
    return cached || (await cache.match(key("en"), { ignoreVary: true })) ||
      new Response("", { headers: { "Content-Type": "text/javascript" } });
  }
}

/* Signing out: the crew's pages and data stay no longer on the phone. */
async function forgetPrivate() {
  const pages = await caches.open(PAGES_CACHE);
  const api = await caches.open(API_CACHE);
  const pageKeys = await pages.keys();
  const apiKeys = await api.keys();
  await Promise.all([
    ...pageKeys.filter((r) => new URL(r.url).pathname.startsWith("/crew/")).map((r) => pages.delete(r)),
    ...apiKeys.filter((r) => new URL(r.url).pathname.startsWith("/api/v1/crew/")).map((r) => api.delete(r)),
  ]);
}
