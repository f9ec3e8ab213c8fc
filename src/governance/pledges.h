// governance/pledges: the election-pledge tracker's rules — the Korea Manifesto Center status
// vocabulary, the table a city publishes (CSV) as Pledge entities, the checks on a staff
// update, and the summaries (implementation rate by field, status and department).
//
// A pledge is a `Pledge` entity (core context, short names): `title`, `pledgeNo` ("1-3"),
// `field`, `fieldNo`, `seqInField`, `department`, `status` (code below), `progress` (0–100 %,
// unitCode P1), `milestones` (JsonProperty: [{"title","date","done"}]), `budgetPlanned`,
// `budgetExecuted` (KRW), `refIndicators` (Relationship to Indicator ids), `evidence`
// (JsonProperty: [{"title","url"}]), `asOf`, `city`, `modifiedBy`, `changeNote`. Who changed
// what and when is the hub's attribute history (temporal API) of these attributes.
//
// The implementation rate (이행률) is the mean of `progress` over the pledges, rounded to one
// decimal: that is how the Boryeong table's 77.7 % comes out (sum 5048 / 65 = 77.66); the
// share of 완료 pledges (58.5 %) is reported beside it as `doneShare`.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

struct PledgeStatus {
  std::string_view code;   // done, inProgress, onHold, abandoned, other
  std::string_view label;  // 완료, 추진중, 보류, 폐기, 기타
};
inline constexpr PledgeStatus kPledgeStatuses[] = {
    {"done", "완료"}, {"inProgress", "추진중"}, {"onHold", "보류"},
    {"abandoned", "폐기"}, {"other", "기타"}};

// A code or a Korean label → the code; nullopt for anything else.
std::optional<std::string_view> pledge_status_code(std::string_view code_or_label);
std::string_view pledge_status_label(std::string_view code);

// Rounds half away from zero to one decimal (77.66 → 77.7).
double round1(double x);

// The publisher's table → concise Pledge entities (short names), one per row, ids
// `urn:ngsi-ld:Pledge:<citySlug>:<pledge_id>`. Columns: pledge_id, field_no, field,
// seq_in_field, title, status, progress_pct, department, as_of, city. A bad row fails the
// whole table with its line (a pledge table is small and must be all-or-nothing to keep the
// published totals).
base::Result<std::vector<json::object>> pledges_from_csv(std::string_view csv,
                                                         std::string_view city_slug,
                                                         std::string_view modified_by);

// A staff update body ({"status","progress","milestones","budgetPlanned","budgetExecuted",
// "refIndicators","evidence","department","title","changeNote","modifiedBy"}) → a concise
// fragment. `modifiedBy` is required; unknown members and bad values are BadRequestData.
base::Result<json::object> pledge_update_fragment(const json::object& body);

// Pledges as keyValues (short names) → {"count","implementationRate","implementationRateExact",
// "doneShare","method","byStatus":[...],"byField":[...],"byDepartment":[...]}.
json::object pledge_summary(const std::vector<json::object>& pledges);

}  // namespace cityroom::governance
