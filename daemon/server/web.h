#pragma once
// The web page tendd serves at "/": a server-rendered overview and resource table (readable
// without JavaScript, paged), and the script and stylesheet under /ui/ that add the live
// views (tiers, dependency graph, resource detail, plan, runs) on top of the same API that
// tendctl reads. The assets are compiled into the binary (daemon/server/web/, embedded at
// build time): no CDN, the lab may be offline.
#include <map>
#include <string>
#include <string_view>

#include "daemon/server/status_render.h"

namespace tend::daemon {

struct WebAsset {
  const char* name;  // "app.js"
  const char* type;  // Content-Type
  const unsigned char* data;
  std::size_t size;
};
// The embedded file under /ui/NAME, or null.
const WebAsset* findWebAsset(std::string_view name);

// The headers every page and asset carries: a strict Content-Security-Policy (own scripts,
// styles and connections only; no inline code, no framing), nosniff, no referrer.
extern const char* const kWebCsp;

// The page at "/" for the status `v`. Query: q (text), phase, kind, tier, page (1-based),
// per (rows per page, at most 1000). Everything from the status is HTML-escaped.
std::string renderIndexPage(const StatusView& v, const std::map<std::string, std::string>& query);

std::string htmlEscape(std::string_view s);

}  // namespace tend::daemon
