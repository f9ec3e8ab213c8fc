#include "governance/pledge_import.h"

#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "governance/entity_view.h"
#include "governance/pledges.h"

namespace cityroom::governance {

std::string city_slug_of(const std::filesystem::path& file) {
  const std::string stem = file.stem().string();
  if (stem.starts_with("pledges_")) {
    const auto rest = stem.substr(8);
    const auto end = rest.find('_');
    if (end != 0 && !rest.empty()) return rest.substr(0, end);
  }
  return "city";
}

void import_pledges(hub::Hub& hub, const ldcontext::Context& core, std::string tenant,
                    std::string_view csv, std::string_view city_slug,
                    std::string_view modified_by, hub::Callback<PledgeImportReport> done) {
  auto rows = pledges_from_csv(csv, city_slug, modified_by);
  if (!rows) return done(std::unexpected(rows.error()));
  std::vector<hub::BatchItem> items;
  const auto now = base::now_micros();
  for (const auto& row : *rows) {
    const std::string id(row.at("id").as_string());
    items.push_back({id, to_entity(core, row, false, now)});
    if (!items.back().entity) return done(std::unexpected(items.back().entity.error()));
  }
  const std::size_t n = items.size();
  hub.batch(std::move(tenant), hub::BatchKind::kUpsertUpdate, std::move(items),
            [n, done = std::move(done)](base::Result<hub::BatchOutcome> r) {
              if (!r) return done(std::unexpected(r.error()));
              if (!r->errors.empty()) {
                return done(base::fail(r->errors.front().error.kind,
                                       fmt::format("pledge {}: {}", r->errors.front().id,
                                                   r->errors.front().error.detail)));
              }
              done(PledgeImportReport{n, r->created.size(), r->success.size() - r->created.size()});
            });
}

int import_pledges_command(const std::filesystem::path& file, const std::filesystem::path& data_dir,
                           std::string city_slug) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "cityroom governance import-pledges: cannot read " << file << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (city_slug.empty()) city_slug = city_slug_of(file);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  auto store = store::open_sqlite({.data_dir = data_dir});
  if (!store) {
    std::cerr << "cityroom governance import-pledges: " << store.error().detail << "\n";
    return 1;
  }
  auto contexts = ldcontext::ContextStore::open({}, data_dir / "contexts");
  if (!contexts) {
    std::cerr << "cityroom governance import-pledges: " << contexts.error().detail << "\n";
    (*store)->close();
    return 1;
  }
  hub::Hub hub(**store);
  std::promise<base::Result<PledgeImportReport>> promise;
  import_pledges(hub, *(*contexts)->core(), "", text.str(), city_slug,
                 "import:" + file.filename().string(),
                 [&promise](base::Result<PledgeImportReport> r) { promise.set_value(std::move(r)); });
  auto report = promise.get_future().get();
  int rc = 0;
  if (!report) {
    std::cerr << "cityroom governance import-pledges: " << file.string() << ": "
              << report.error().detail << "\n";
    rc = report.error().kind == base::ErrorKind::kBadRequestData ? 2 : 1;
  } else {
    auto rows = pledges_from_csv(text.str(), city_slug, "");
    std::vector<json::object> kv;
    for (auto& r : *rows) {
      // The summary reads keyValues; the concise rows only differ in `progress`.
      r["progress"] = r["progress"].as_object()["value"];
      kv.push_back(std::move(r));
    }
    const auto summary = pledge_summary(kv);
    std::cout << fmt::format("pledges ({}): {} rows, {} new, {} updated, implementation rate {} %",
                             city_slug, report->rows, report->created, report->updated,
                             json::serialize(summary.at("implementationRate")))
              << std::endl;
  }
  (*store)->close();
  return rc;
}

}  // namespace cityroom::governance
