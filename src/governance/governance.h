// governance: the mayor's-office features on top of the hub — the pledge tracker, requests to
// the mayor (Open311 GeoReport v2 + a staff workflow), Korean full-text search and request
// statistics (docs/GOVERNANCE.md).
//
// Everything a user sees is entities in the hub (Pledge, ServiceRequest), so history, live
// screens, subscriptions and access control apply unchanged; this module adds the rules
// (pledges.h, requests.h), the Open311 catalogue (services.h) and derived indexes
// (search_index.h). `Governance` is what the HTTP routes (api/governance.cpp,
// api/open311.cpp) and main hold: one per process, built in main, started after the hub.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "governance/indicator_compute.h"
#include "governance/indicators.h"
#include "governance/open311_format.h"
#include "governance/press.h"
#include "governance/pledge_import.h"
#include "governance/pledges.h"
#include "governance/requests.h"
#include "governance/search_index.h"
#include "governance/services.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"

namespace cityroom::governance {

inline constexpr std::chrono::milliseconds kCatchUpMax{200};

struct Options {
  std::filesystem::path data_dir;       // governance-index.db goes here
  std::filesystem::path open311_config; // data/governance/open311.json
  // Formula indicators of the default tenant are recomputed for their current period this
  // often (0: only on request).
  std::chrono::seconds formula_interval{300};
};

class Governance {
 public:
  static base::Result<std::unique_ptr<Governance>> open(hub::Hub& hub, live::Feed& feed,
                                                        ldcontext::ContextPtr core,
                                                        const Options& options);
  ~Governance();
  // Rebuilds the derived index in the background and follows the feed.
  void start();
  void stop();

  hub::Hub& hub() { return hub_; }
  const ldcontext::Context& core() const { return *core_; }
  const Open311Config& open311() const { return open311_; }
  // press_topics.json next to the Open311 catalogue; empty when there is none.
  const std::vector<PressTopic>& press_topics() const { return press_topics_; }
  SearchIndex& index() { return *index_; }
  // The derived index with every change committed so far applied (waits up to
  // kCatchUpMax; see Indexer::catch_up). For reads right after writes.
  SearchIndex& current_index();

  // The dong (AdministrativeArea with adminLevel "dong") whose boundary holds the point, or
  // nullopt (no boundaries loaded, or outside the city).
  std::optional<std::string> area_of(std::string_view tenant, double lon, double lat);

  // Creates a request: the contact record first (so a request never exists without it), then
  // the entity, then the index row. `done` gets the entity id.
  void submit_request(std::string tenant, NewRequest request, hub::Callback<std::string> done);
  // Recomputes a formula indicator (keyValues) for `period` and records the value when it
  // changed; `done` gets the value.
  void recompute(std::string tenant, const json::object& indicator, const Period& period,
                 hub::Callback<double> done);

  // The personal record of a request (staff only), nullopt when none was given.
  base::Result<std::optional<json::object>> contact_of(std::string_view tenant,
                                                       std::string_view id);

 private:
  Governance(hub::Hub& hub, live::Feed& feed, ldcontext::ContextPtr core, Open311Config config,
             std::unique_ptr<SearchIndex> index, std::chrono::seconds formula_interval);
  void run_formulas();
  hub::Hub& hub_;
  ldcontext::ContextPtr core_;
  Open311Config open311_;
  std::vector<PressTopic> press_topics_;
  std::unique_ptr<SearchIndex> index_;
  Indexer indexer_;
  std::chrono::seconds formula_interval_;
  std::thread formula_thread_;
  std::mutex formula_mutex_;
  std::condition_variable formula_wake_;
  bool formula_stop_ = false;
};

}  // namespace cityroom::governance
