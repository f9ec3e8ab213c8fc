// Screen streams over HTTP: `GET /live/v1/stream` as a WebSocket (several watches per
// connection, messages both ways) or, for networks that block WebSocket, as Server-Sent Events
// (one watch from the URL's query parameters; the browser's Last-Event-ID resumes it). The
// protocol is docs/STREAMS.md; the engine is live::Streams. Tenant and @context come from
// NGSILD-Tenant / Link headers or, because browsers cannot set headers on a WebSocket, from the
// `tenant` and `context` URL parameters.
#include <boost/algorithm/string/predicate.hpp>
#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"
#include "live/streams.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kStreamRoute = "/live/v1/stream";

// Adapts an http::Channel to what live::Streams writes to.
class ChannelSink final : public live::StreamSink {
 public:
  explicit ChannelSink(std::shared_ptr<http::Channel> channel) : channel_(std::move(channel)) {}
  bool send(std::string message, std::string event_id) override {
    return channel_->send(std::move(message), std::move(event_id));
  }
  std::size_t queued_bytes() const override { return channel_->queued_bytes(); }
  void close(std::uint16_t code, std::string reason) override {
    channel_->close(code, std::move(reason));
  }

 private:
  std::shared_ptr<http::Channel> channel_;
};

// The stream's client id, known once the channel opened (set and read on the channel's
// callbacks, which never run concurrently).
struct Connection {
  live::ClientId id = 0;
};

base::Result<std::string> tenant_of(const http::Request& r) {
  const std::string* t = r.header("ngsild-tenant");
  if (!t) t = r.query_param("tenant");
  if (!t) return std::string(store::kDefaultTenant);
  if (!valid_tenant(*t)) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("tenant '{}' is not a valid tenant name", *t));
  }
  return *t;
}

base::Result<ldcontext::ContextPtr> context_of(Deps& deps, const http::Request& r) {
  std::optional<std::string> url = link_context(r);
  if (url && url->empty()) {
    return base::fail(ErrorKind::kBadRequestData, "the Link header is not <url>; rel=...");
  }
  if (!url) {
    if (const auto* c = r.query_param("context")) url = *c;
  }
  if (!url) return deps.contexts.core();
  return deps.contexts.resolve_url(*url);
}

void stream(Deps& deps, live::Streams& streams, http::Request&& request, http::Respond respond) {
  auto tenant = tenant_of(request);
  if (!tenant) return respond(http::Response::problem(tenant.error()));
  auto granted = deps.access.check(request, {Operation::Kind::kRead, request.route, *tenant});
  if (!granted) return respond(std::move(granted.error()));
  auto context = context_of(deps, request);
  if (!context) return respond(http::Response::problem(context.error()));
  live::ClientInfo info{*tenant, *context, request.remote_address, {}};
  // The screen only ever receives what its viewer may see — entities and attributes — and
  // ends as soon as the credential it opened with is revoked, logged out or re-roled.
  if (const GrantPtr& grant = *granted) {
    live::Viewer viewer = viewer_of(grant);
    info.may_see = std::move(viewer.may_see);
    info.redact = std::move(viewer.redact);
    info.view_key = std::move(viewer.view_key);
    info.revoked = [grant] { return grant->revoked(); };
  }
  auto connection = std::make_shared<Connection>();
  http::ChannelCallbacks callbacks;
  callbacks.closed = [&streams, connection] {
    if (connection->id) streams.close(connection->id);
  };

  // Asking for a WebSocket decides the branch, not a valid handshake: Response::websocket
  // answers a broken one (no key, wrong version) with 400 instead of an event stream.
  if (const auto* upgrade = request.header("upgrade");
      upgrade && boost::algorithm::icontains(*upgrade, "websocket")) {
    callbacks.opened = [&streams, connection, info](std::shared_ptr<http::Channel> channel) {
      connection->id = streams.open(std::make_shared<ChannelSink>(std::move(channel)), info);
    };
    callbacks.received = [&streams, connection](std::string message) {
      streams.on_message(connection->id, message);
    };
    return respond(http::Response::websocket(std::move(callbacks)));
  }

  // SSE: the URL's parameters (less tenant and context) are the one watch.
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& [name, value] : request.query) {
    if (name != "tenant") params.emplace_back(name, value);
  }
  auto watch = live::parse_watch_params(params);
  if (!watch) return respond(http::Response::problem(watch.error()));
  if (const auto* last = request.header("last-event-id"); last && !last->empty()) {
    watch->since = *last;
  }
  if (auto ok = live::check_watch(*watch, *tenant, *context, deps.contexts); !ok) {
    return respond(http::Response::problem(ok.error()));
  }
  callbacks.opened = [&streams, connection, info,
                      watch = std::move(*watch)](std::shared_ptr<http::Channel> channel) mutable {
    connection->id = streams.open(std::make_shared<ChannelSink>(std::move(channel)), info);
    streams.watch(connection->id, std::move(watch));
  };
  respond(http::Response::event_stream(std::move(callbacks)));
}

}  // namespace

void register_streams(http::Router& router, Deps& deps) {
  if (!deps.streams) return;
  router.add("GET", kStreamRoute, [&deps](http::Request&& r, http::Respond respond) {
    stream(deps, *deps.streams, std::move(r), std::move(respond));
  });
}

}  // namespace cityroom::api
