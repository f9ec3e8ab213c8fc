#include <gtest/gtest.h>

#include <filesystem>

#include "governance/search_index.h"

namespace cityroom::governance {
namespace {

class Search : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gov-search-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto opened = SearchIndex::open(dir_ / "index.db");
    ASSERT_TRUE(opened) << opened.error().detail;
    index_ = std::move(*opened);
    add("r1", "불법 주정차 차량이 골목을 막고 있습니다", "illegal-parking", "2026-11-16T01:00:00Z",
        "urn:ngsi-ld:AdministrativeArea:1168051000");
    add("r2", "공영주차장에 CCTV가 고장났어요", "safety", "2026-11-17T02:00:00Z",
        "urn:ngsi-ld:AdministrativeArea:1168051000");
    add("r3", "도로 주차 구획선이 지워졌습니다", "road-damage", "2026-11-21T16:30:00Z",
        "urn:ngsi-ld:AdministrativeArea:1168052000");
    add("r4", "민원 처리 결과를 알려주세요 long wait", "suggestion", "2026-11-09T03:00:00Z", "");
    add("r5", "밤길이 어둡습니다", "streetlight", "2026-11-21T14:00:00Z",
        "urn:ngsi-ld:AdministrativeArea:1168052000");
    ASSERT_TRUE(index_->upsert("", json::object{{"id", "urn:ngsi-ld:Pledge:c:1-1"},
                                                {"type", "Pledge"},
                                                {"title", "공영주차장 확충"},
                                                {"field", "교통"},
                                                {"status", "inProgress"}}));
  }
  void TearDown() override {
    index_.reset();
    std::filesystem::remove_all(dir_);
  }
  void add(std::string key, std::string description, std::string code, std::string at,
           std::string area) {
    json::object kv{{"id", "urn:ngsi-ld:ServiceRequest:" + key},
                    {"type", "ServiceRequest"},
                    {"serviceCode", code},
                    {"serviceName", code == "illegal-parking" ? "불법 주정차" : "기타"},
                    {"description", description},
                    {"status", "open"},
                    {"requestedAt", json::object{{"@type", "DateTime"}, {"@value", at}}}};
    if (!area.empty()) kv["refArea"] = area;
    ASSERT_TRUE(index_->upsert("", kv));
  }
  std::vector<std::string> ids(std::string_view q, std::string_view type = "") {
    auto hits = index_->search("", q, type, 50);
    EXPECT_TRUE(hits) << (hits ? "" : hits.error().detail);
    std::vector<std::string> out;
    for (const auto& h : *hits) {
      const auto colon = h.id.rfind(':');
      out.push_back(h.id.substr(colon + 1));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::filesystem::path dir_;
  std::unique_ptr<SearchIndex> index_;
};

using V = std::vector<std::string>;

TEST_F(Search, FindsTwoSyllableWordsInsideLongerWords) {
  EXPECT_EQ(ids("민원"), (V{"r4"}));
  // 주차 inside 주정차? no: 주정차 has no 주차 bigram. 주차장, 주차 구획: yes.
  EXPECT_EQ(ids("주차", "ServiceRequest"), (V{"r2", "r3"}));
}

TEST_F(Search, FindsOneSyllableWords) {
  EXPECT_EQ(ids("길"), (V{"r5"}));
  EXPECT_EQ(ids("밤"), (V{"r5"}));
}

TEST_F(Search, FindsThreeSyllableWordsWithParticlesAttached) {
  EXPECT_EQ(ids("주차장", "ServiceRequest"), (V{"r2"}));  // written 공영주차장에
  EXPECT_EQ(ids("주차장"), (V{"1-1", "r2"}));
  EXPECT_EQ(ids("주정차"), (V{"r1"}));
}

TEST_F(Search, NoMatchAcrossAWordBoundary) {
  // "도로 주차" has 로 and 주 in different words: no 로주 bigram.
  EXPECT_EQ(ids("로주"), (V{}));
  // 차장 spans 주차장 only, not "주차 구획".
  EXPECT_EQ(ids("차장", "ServiceRequest"), (V{"r2"}));
}

TEST_F(Search, MixedKoreanAndEnglishAndCaseInsensitiveLatin) {
  EXPECT_EQ(ids("cctv"), (V{"r2"}));
  EXPECT_EQ(ids("CCTV 고장"), (V{"r2"}));
  EXPECT_EQ(ids("민원 WAIT"), (V{"r4"}));
  EXPECT_EQ(ids("cctv 민원"), (V{}));  // every word must match
}

TEST_F(Search, TypeFilterAndBadQueries) {
  EXPECT_EQ(ids("공영", "Pledge"), (V{"1-1"}));
  EXPECT_FALSE(index_->search("", "", "", 10));
  EXPECT_FALSE(index_->search("", " ... ", "", 10));
  EXPECT_FALSE(index_->search("", std::string(300, 'a'), "", 10));
  // FTS5 syntax in user input is taken literally, never an error.
  EXPECT_TRUE(index_->search("", "NEAR(주차 OR \"", "", 10));
}

TEST_F(Search, UpdatesAndRemovalsAreReflected) {
  add("r1", "가로수 정비 요청", "waste", "2026-11-16T01:00:00Z", "");
  EXPECT_EQ(ids("주정차"), (V{}));
  EXPECT_EQ(ids("가로수"), (V{"r1"}));
  ASSERT_TRUE(index_->remove("", "urn:ngsi-ld:ServiceRequest:r1"));
  EXPECT_EQ(ids("가로수"), (V{}));
  EXPECT_EQ(index_->size(), 5u);
}

TEST_F(Search, RetainDropsRowsOfEntitiesThatAreGone) {
  auto removed = index_->retain("", {"urn:ngsi-ld:ServiceRequest:r2", "urn:ngsi-ld:Pledge:c:1-1"});
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 4u);
  EXPECT_EQ(ids("주차장"), (V{"1-1", "r2"}));
  EXPECT_EQ(ids("민원"), (V{}));
  EXPECT_EQ(index_->size(), 2u);
}

TEST_F(Search, RequestFilterByCodeStatusAndTime) {
  RequestFilter f;
  f.start = *base::parse_iso8601("2026-11-15T00:00:00Z");
  f.end = *base::parse_iso8601("2026-11-22T00:00:00Z");
  auto all = index_->request_ids("", f);
  ASSERT_TRUE(all);
  // Newest first.
  EXPECT_EQ(*all, (V{"urn:ngsi-ld:ServiceRequest:r3", "urn:ngsi-ld:ServiceRequest:r5",
                     "urn:ngsi-ld:ServiceRequest:r2", "urn:ngsi-ld:ServiceRequest:r1"}));
  f.codes = {"safety", "streetlight"};
  EXPECT_EQ(index_->request_ids("", f)->size(), 2u);
  f.statuses = {"closed"};
  EXPECT_EQ(index_->request_ids("", f)->size(), 0u);
}

TEST_F(Search, StatisticsByCategoryAreaAndWeekInCityTime) {
  const auto from = *base::parse_iso8601("2026-11-01T00:00:00Z");
  const auto to = *base::parse_iso8601("2026-12-01T00:00:00Z");
  // 2026-11-22 10:00 KST (a Sunday, ISO week 47).
  const auto now = *base::parse_iso8601("2026-11-22T01:00:00Z");
  auto s = index_->request_stats("", from, to, now);
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->at("total").as_uint64(), 5u);
  EXPECT_EQ(s->at("open").as_uint64(), 5u);
  // r4 on 11-09 is week 46; r1 (11-16 10:00 KST) and r2 week 47; r5 (11-21 23:00 KST) week 47;
  // r3 (11-22 01:30 KST) week 47 and today.
  json::array weeks{json::object{{"week", "2026-W46"}, {"count", 1}},
                    json::object{{"week", "2026-W47"}, {"count", 4}}};
  EXPECT_EQ(s->at("byWeek"), weeks);
  EXPECT_EQ(s->at("today").at("total").as_uint64(), 1u);
  EXPECT_EQ(s->at("thisWeek").at("total").as_uint64(), 4u);
  EXPECT_EQ(s->at("thisWeek").at("week"), "2026-W47");
  const auto& areas = s->at("byArea").as_array();
  ASSERT_EQ(areas.size(), 3u);  // null (no area), 51000, 52000
  EXPECT_EQ(areas[1].at("area"), "urn:ngsi-ld:AdministrativeArea:1168051000");
  EXPECT_EQ(areas[1].at("count").as_uint64(), 2u);
  EXPECT_EQ(s->at("byCategory").as_array().size(), 5u);
}

TEST(IsoWeek, MatchesTheCalendar) {
  EXPECT_EQ(iso_week(*base::parse_iso8601("2026-11-22T01:00:00Z")), "2026-W47");
  EXPECT_EQ(iso_week(*base::parse_iso8601("2025-12-29T01:00:00Z")), "2026-W01");
  EXPECT_EQ(iso_week(*base::parse_iso8601("2027-01-03T01:00:00Z")), "2026-W53");
  EXPECT_EQ(iso_week(*base::parse_iso8601("2020-12-31T01:00:00Z")), "2020-W53");
  // 2026-11-22T16:00Z is Monday 01:00 in Seoul: week 48 there.
  EXPECT_EQ(iso_week(*base::parse_iso8601("2026-11-22T16:00:00Z")), "2026-W48");
}

}  // namespace
}  // namespace cityroom::governance
