#include <gtest/gtest.h>

#include "governance/pledges.h"
#include "test_support.h"

namespace cityroom::governance {
namespace {

// pledges_from_csv gives concise rows; the summary reads keyValues (progress as a number).
std::vector<json::object> as_key_values(std::vector<json::object> rows) {
  for (auto& r : rows) r["progress"] = r["progress"].as_object()["value"];
  return rows;
}

json::object boryeong_summary() {
  const auto csv = testing::read_file(testing::source_dir() /
                                      "data/governance/pledges_boryeong_2021-12-31.csv");
  auto rows = pledges_from_csv(csv, "boryeong", "test");
  EXPECT_TRUE(rows) << (rows ? "" : rows.error().detail);
  return pledge_summary(as_key_values(*rows));
}

TEST(Pledges, BoryeongTableReproducesThePublishedImplementationRate) {
  const auto s = boryeong_summary();
  EXPECT_EQ(s.at("count").to_number<int>(), 65);
  // The source's 77.7 % is the mean progress: 5048 / 65 = 77.66 → 77.7.
  EXPECT_DOUBLE_EQ(s.at("implementationRate").as_double(), 77.7);
  EXPECT_NEAR(s.at("implementationRateExact").as_double(), 5048.0 / 65, 1e-9);
  // Not the share of 완료 (38 of 65).
  EXPECT_DOUBLE_EQ(s.at("doneShare").as_double(), 58.5);
}

TEST(Pledges, BoryeongSummaryByStatusFieldAndDepartment) {
  const auto s = boryeong_summary();
  const auto& statuses = s.at("byStatus").as_array();
  ASSERT_EQ(statuses.size(), 5u);
  EXPECT_EQ(statuses[0].at("status"), "done");
  EXPECT_EQ(statuses[0].at("label"), "완료");
  EXPECT_EQ(statuses[0].at("count").as_uint64(), 38u);
  EXPECT_EQ(statuses[1].at("status"), "inProgress");
  EXPECT_EQ(statuses[1].at("count").as_uint64(), 27u);
  EXPECT_EQ(statuses[2].at("count").as_uint64(), 0u);
  const auto& fields = s.at("byField").as_array();
  ASSERT_EQ(fields.size(), 7u);
  // Fields in the publisher's order, each with its own rate (hand-computed from the table).
  EXPECT_EQ(fields[0].at("fieldNo").as_int64(), 1);
  EXPECT_EQ(fields[0].at("count").as_uint64(), 11u);
  EXPECT_DOUBLE_EQ(fields[0].at("implementationRate").as_double(), 74.4);  // 818 / 11
  EXPECT_DOUBLE_EQ(fields[1].at("implementationRate").as_double(), 61.0);
  EXPECT_DOUBLE_EQ(fields[4].at("implementationRate").as_double(), 100.0);
  EXPECT_DOUBLE_EQ(fields[5].at("implementationRate").as_double(), 35.0);
  EXPECT_EQ(fields[5].at("byStatus").at("inProgress").as_uint64(), 7u);
  bool found = false;
  for (const auto& d : s.at("byDepartment").as_array()) {
    if (d.at("department") == "도로과") {
      found = true;
      EXPECT_EQ(d.at("count").as_uint64(), 5u);
      EXPECT_DOUBLE_EQ(d.at("implementationRate").as_double(), 33.0);  // 25+25+30+40+45
    }
  }
  EXPECT_TRUE(found);
}

TEST(Pledges, RowsBecomePledgeEntitiesWithStatusCodes) {
  auto rows = pledges_from_csv(
      "pledge_id,field_no,field,seq_in_field,title,status,progress_pct,department,as_of,city\n"
      "1-4,1,경제,4,\"소상공인, 청년 창업가 지원\",완료,100,지역경제과,2021-12-31,보령시\n",
      "boryeong", "import:x.csv");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  const auto& e = (*rows)[0];
  EXPECT_EQ(e.at("id"), "urn:ngsi-ld:Pledge:boryeong:1-4");
  EXPECT_EQ(e.at("title"), "소상공인, 청년 창업가 지원");
  EXPECT_EQ(e.at("status"), "done");
  EXPECT_EQ(e.at("progress").at("value").as_int64(), 100);
  EXPECT_EQ(e.at("modifiedBy"), "import:x.csv");
}

TEST(Pledges, BadRowsAreRefusedWithTheirLine) {
  const std::string head =
      "pledge_id,field_no,field,seq_in_field,title,status,progress_pct,department\n";
  auto unknown = pledges_from_csv(head + "1-1,1,f,1,t,완료,100,d\n1-2,1,f,2,t,진행,50,d\n", "c", "");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().detail.find("line 3"), std::string::npos) << unknown.error().detail;
  auto over = pledges_from_csv(head + "1-1,1,f,1,t,추진중,120,d\n", "c", "");
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().detail.find("above 100"), std::string::npos);
  auto twice = pledges_from_csv(head + "1-1,1,f,1,t,완료,100,d\n1-1,1,f,1,t,완료,100,d\n", "c", "");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().detail.find("repeats"), std::string::npos);
  auto missing = pledges_from_csv("pledge_id,title\n1,a\n", "c", "");
  ASSERT_FALSE(missing);
  auto ragged = pledges_from_csv(head + "1-1,1,f\n", "c", "");
  ASSERT_FALSE(ragged);
  EXPECT_NE(ragged.error().detail.find("line 2"), std::string::npos);
}

TEST(Pledges, StatusVocabularyAcceptsCodesAndKoreanLabels) {
  EXPECT_EQ(pledge_status_code("보류"), "onHold");
  EXPECT_EQ(pledge_status_code("abandoned"), "abandoned");
  EXPECT_EQ(pledge_status_code("기타"), "other");
  EXPECT_FALSE(pledge_status_code("finished"));
  EXPECT_EQ(pledge_status_label("inProgress"), "추진중");
}

TEST(Pledges, StaffUpdateNeedsWhoAndValidValues) {
  auto ok = pledge_update_fragment(
      json::parse(R"({"status":"완료","progress":100,"modifiedBy":"kim@road",
                      "milestones":[{"title":"착공","date":"2022-03-01","done":true}],
                      "budgetPlanned":1000000,"evidence":[{"title":"준공 보고","url":"https://example.org/a.pdf"}]})")
          ->as_object());
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->at("status"), "done");
  EXPECT_EQ(ok->at("milestones").at("type"), "JsonProperty");
  EXPECT_EQ(ok->at("budgetPlanned").at("unitCode"), "KRW");
  EXPECT_FALSE(pledge_update_fragment(json::parse(R"({"status":"done"})")->as_object()));
  EXPECT_FALSE(pledge_update_fragment(json::parse(R"({"progress":101,"modifiedBy":"a"})")->as_object()));
  EXPECT_FALSE(pledge_update_fragment(json::parse(R"({"status":"finished","modifiedBy":"a"})")->as_object()));
  EXPECT_FALSE(pledge_update_fragment(json::parse(R"({"owner":"x","modifiedBy":"a"})")->as_object()));
  EXPECT_FALSE(pledge_update_fragment(
      json::parse(R"({"milestones":[{"title":"x","date":"soon"}],"modifiedBy":"a"})")->as_object()));
}

}  // namespace
}  // namespace cityroom::governance
