// GET /cityroom/v1/city and GET /cityroom/v1/datasets[/{id}]: the running city and the dataset
// catalog (shapes in docs/DATA-MODEL.md). Reads, through prepare()'s access check.
#include <fmt/format.h>

#include "api/call.h"
#include "catalog/catalog.h"

namespace cityroom::api {
namespace {

void reply_plain(Call& call, json::value body) {
  call.respond(http::Response::json(200, json::serialize(body)));
}

void get_city(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare(std::move(request), std::move(respond), deps, {});
  if (!call) return;
  if (!deps.city) {
    call->fail(base::ErrorKind::kResourceNotFound,
               "no city is configured; start the server with --city FILE");
    return;
  }
  reply_plain(*call, *deps.city);
}

void list_datasets(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare(std::move(request), std::move(respond), deps, {});
  if (!call) return;
  json::array out;
  if (deps.catalog) {
    for (auto& d : deps.catalog->list()) out.emplace_back(std::move(d));
  }
  reply_plain(*call, std::move(out));
}

void get_dataset(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare(std::move(request), std::move(respond), deps, {});
  if (!call) return;
  const auto& id = call->request.param("id");
  auto d = deps.catalog ? deps.catalog->get(id) : std::nullopt;
  if (!d) {
    call->fail(base::ErrorKind::kResourceNotFound, fmt::format("no dataset '{}'", id));
    return;
  }
  reply_plain(*call, std::move(*d));
}

}  // namespace

void register_catalog(http::Router& router, Deps& deps) {
  router.add("GET", "/cityroom/v1/city", bound(deps, get_city));
  router.add("GET", "/cityroom/v1/datasets", bound(deps, list_datasets));
  router.add("GET", "/cityroom/v1/datasets/{id}", bound(deps, get_dataset));
}

}  // namespace cityroom::api
