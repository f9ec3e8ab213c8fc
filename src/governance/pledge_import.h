// governance/pledge_import: a city's pledge table (CSV) into the hub as Pledge entities, through
// the hub's batch upsert (update semantics: a re-import refreshes the published columns and
// keeps what staff added — milestones, budgets, evidence). Used by
// `POST /cityroom/v1/pledges/import` and `cityroom governance import-pledges FILE`.
#pragma once

#include <filesystem>
#include <string>

#include "hub/hub.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::governance {

struct PledgeImportReport {
  std::size_t rows = 0;
  std::size_t created = 0;
  std::size_t updated = 0;
};

// "pledges_boryeong_2021-12-31.csv" → "boryeong"; otherwise "city".
std::string city_slug_of(const std::filesystem::path& file);

void import_pledges(hub::Hub& hub, const ldcontext::Context& core, std::string tenant,
                    std::string_view csv, std::string_view city_slug,
                    std::string_view modified_by, hub::Callback<PledgeImportReport> done);

// The command line: opens the store in data_dir (the server must not run on it), imports,
// prints "pledges: 65 rows, 65 new, 0 updated, implementation rate 77.7 %". Exit status 0, 1
// (store or hub refused), 2 (unreadable or bad file).
int import_pledges_command(const std::filesystem::path& file, const std::filesystem::path& data_dir,
                           std::string city_slug);

}  // namespace cityroom::governance
