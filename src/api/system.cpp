// /health and /metrics: what operators and Prometheus read.
#include <fmt/format.h>

#include "api/api.h"

namespace cityroom::api {
namespace {

std::string store_metrics(const store::Stats& s) {
  std::string out;
  out += "# HELP cityroom_store_commits_total Group commits of the store writer.\n";
  out += "# TYPE cityroom_store_commits_total counter\n";
  out += fmt::format("cityroom_store_commits_total {}\n", s.commits);
  out += "# HELP cityroom_store_work_items_total Write operations committed.\n";
  out += "# TYPE cityroom_store_work_items_total counter\n";
  out += fmt::format("cityroom_store_work_items_total {}\n", s.work_items);
  out += "# HELP cityroom_store_queue_depth Writes waiting for the writer thread.\n";
  out += "# TYPE cityroom_store_queue_depth gauge\n";
  out += fmt::format("cityroom_store_queue_depth {}\n", s.queue_depth);
  out += "# HELP cityroom_store_write_batch_size Write operations per group commit.\n";
  out += "# TYPE cityroom_store_write_batch_size histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.batch_size_buckets.size(); ++i) {
    cumulative += s.batch_size_buckets[i];
    out += fmt::format("cityroom_store_write_batch_size_bucket{{le=\"{}\"}} {}\n", 1u << i,
                       cumulative);
  }
  out += fmt::format("cityroom_store_write_batch_size_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("cityroom_store_write_batch_size_sum {}\n", s.work_items);
  out += fmt::format("cityroom_store_write_batch_size_count {}\n", s.commits);
  out += "# HELP cityroom_entities Entities stored, all tenants.\n";
  out += "# TYPE cityroom_entities gauge\n";
  out += fmt::format("cityroom_entities {}\n", s.entities);
  return out;
}

}  // namespace

// /health and /metrics pass the same Access check as every route. /health is public
// liveness (status only; version and store figures for admins, and with --no-auth), so load
// balancers need no credential. /metrics is administrative: admins, or an anonymous scraper on
// the server's own host (the access check decides, docs/ACCESS.md).
void register_system(http::Router& router, Deps& deps) {
  router.add("GET", "/health", [&deps](http::Request&& request, http::Respond respond) {
    auto granted = deps.access.check(request, {Operation::Kind::kRead, request.route, ""});
    if (!granted) return respond(std::move(granted.error()));
    const GrantPtr& grant = *granted;
    const auto stats = deps.hub.store().stats();
    const int status = stats.state == "ok" ? 200 : 503;
    json::object body{{"status", stats.state == "ok" ? "ok" : "degraded"}};
    if (!grant || grant->is_admin()) {
      body["version"] = deps.version;
      body["store"] = json::object{{"backend", "sqlite"},
                                   {"state", stats.state},
                                   {"entities", stats.entities},
                                   {"queueDepth", stats.queue_depth}};
    }
    respond(http::Response::json(status, json::serialize(body)));
  });
  router.add("GET", "/metrics", [&deps](http::Request&& request, http::Respond respond) {
    auto granted = deps.access.check(request, {Operation::Kind::kAdmin, request.route, ""});
    if (!granted) return respond(std::move(granted.error()));
    http::Response r;
    r.headers.emplace_back("content-type", "text/plain; version=0.0.4");
    r.body = deps.metrics.prometheus_text() + store_metrics(deps.hub.store().stats());
    for (const auto& source : deps.metric_sources) r.body += source();
    respond(std::move(r));
  });
}

}  // namespace cityroom::api
