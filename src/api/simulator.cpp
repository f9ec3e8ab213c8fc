// GET/PUT /cityroom/v1/admin/simulator: what the demo simulator runs, and switching it at run
// time (docs/SIMULATOR.md). Admin operations (prepare()'s `admin`).
#include "api/call.h"
#include "simulator/simulator.h"

namespace cityroom::api {
namespace {

constexpr std::string_view kRoute = "/cityroom/v1/admin/simulator";

// prepare() as an admin operation; a server without a simulator answers 503.
std::optional<Call> prepare_admin(http::Request&& request, http::Respond respond, Deps& deps,
                                  Prepare how) {
  how.admin = true;
  auto call = prepare(std::move(request), std::move(respond), deps, how);
  if (call && !deps.simulator) {
    call->fail({base::ErrorKind::kServiceUnavailable, "this server has no simulator"});
    return std::nullopt;
  }
  return call;
}

void get_simulator(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_admin(std::move(request), respond, deps, {.read_only = true});
  if (!call) return;
  reply_json(*call, 200, simulator::to_json(deps.simulator->status()), false);
}

void put_simulator(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_admin(std::move(request), respond, deps,
                            {.read_only = false, .has_body = true});
  if (!call) return;
  auto settings = simulator::parse_settings(call->body);
  if (!settings) return call->fail(settings.error());
  auto status = deps.simulator->apply(*settings);
  if (!status) return call->fail(status.error());
  if (status->running && deps.simulator_running) deps.simulator_running();
  reply_json(*call, 200, simulator::to_json(*status), false);
}

}  // namespace

void register_simulator(http::Router& router, Deps& deps) {
  router.add("GET", std::string(kRoute), bound(deps, get_simulator));
  router.add("PUT", std::string(kRoute), bound(deps, put_simulator));
}

}  // namespace cityroom::api
