// Rule evaluation replayed on recorded event sequences: threshold with hysteresis, rate of
// change, absence with a controllable clock, geofence, all-of.
#include "alarms/evaluate.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

using namespace cityroom;
using alarms::Verdict;

namespace {

constexpr base::Micros kSecond = 1'000'000;

struct Replay : ::testing::Test {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("eval-" + base::random_hex(6));
  std::unique_ptr<ldcontext::ContextStore> contexts =
      std::move(*ldcontext::ContextStore::open({}, dir / "contexts"));
  void TearDown() override { std::filesystem::remove_all(dir); }

  alarms::Rule rule(std::string_view text) {
    auto r = alarms::parse_rule(json::parse(text)->as_object(), "", *contexts);
    EXPECT_TRUE(r) << r.error().detail;
    return std::move(*r);
  }
  model::Entity entity(std::string_view attrs) {
    auto text = fmt::format(R"({{"id":"urn:ngsi-ld:FacilitySensor:s1","type":"FacilitySensor",
                                 "facilityKind":"bridge"{}}})",
                            attrs);
    auto e = model::parse_entity(json::parse(text)->as_object(), *contexts->core(),
                                 {.mode = model::ParseMode::kEntity, .now = base::now_micros()});
    EXPECT_TRUE(e) << e.error().detail;
    return std::move(*e);
  }

  // Feeds each value as one change (before = the previous entity) and returns the verdicts as
  // a string: R raise, C clear, . nothing. The alarm is active between a raise and a clear.
  std::string replay(const alarms::Rule& r, std::string_view attr,
                     const std::vector<double>& values, base::Micros step = kSecond) {
    std::string out;
    alarms::TrackState track;
    std::optional<model::Entity> before;
    bool active = false;
    base::Micros t = 1'700'000'000 * kSecond;
    for (double v : values) {
      auto after = entity(fmt::format(R"(,"{}":{{"type":"Property","value":{},"observedAt":"{}"}})",
                                      attr, v, base::format_iso8601(t)));
      auto o = alarms::evaluate_change(r, before ? &*before : nullptr, after, active, t, t, track);
      out += o.verdict == Verdict::kRaise ? 'R' : o.verdict == Verdict::kClear ? 'C' : '.';
      if (o.verdict == Verdict::kRaise) active = true;
      if (o.verdict == Verdict::kClear) active = false;
      before = std::move(after);
      t += step;
    }
    return out;
  }
};

constexpr std::string_view kTilt = R"({"id":"tilt","severity":"critical",
  "scope":{"type":"FacilitySensor","q":"facilityKind==\"bridge\""},
  "threshold":{"attribute":"tilt","above":0.5,"clearBelow":0.4}})";

TEST_F(Replay, ThresholdRaisesAboveAndClearsOnlyBelowTheHysteresisLimit) {
  // 0.45 after a raise neither clears nor raises: that is what stops flapping.
  EXPECT_EQ(replay(rule(kTilt), "tilt", {0.3, 0.45, 0.51, 0.6, 0.45, 0.41, 0.39, 0.45, 0.5, 0.55}),
            "..RR..C..R");
}

TEST_F(Replay, ThresholdWithoutClearLimitClearsAsSoonAsNotBreaching) {
  auto r = rule(R"({"id":"pm","severity":"warning","scope":{"type":"FacilitySensor"},
                    "threshold":{"attribute":"pm10Grade","atLeast":3}})");
  EXPECT_EQ(replay(r, "pm10Grade", {2, 3, 4, 2, 2, 3}), ".RRC.R");
}

TEST_F(Replay, DownwardThreshold) {
  auto r = rule(R"({"id":"low","severity":"minor","scope":{"type":"FacilitySensor"},
                    "threshold":{"attribute":"level","below":10,"clearAbove":12}})");
  EXPECT_EQ(replay(r, "level", {15, 9, 11, 13}), ".R.C");
}

TEST_F(Replay, RateRaisesOnARiseWithinTheWindowOnly) {
  auto r = rule(R"({"id":"rise","severity":"major","scope":{"type":"FacilitySensor"},
                    "rate":{"attribute":"temperature","rise":10,"withinSeconds":300,"clearRise":3}})");
  // One minute apart: 20 → 31 within two minutes raises; flat for 5 minutes clears.
  EXPECT_EQ(replay(r, "temperature", {20, 25, 31, 32, 32, 32, 32, 32, 32, 32}, 60 * kSecond),
            "..RRRR.C..");
  // The same rise spread over an hour never raises.
  EXPECT_EQ(replay(r, "temperature", {20, 22, 24, 26, 28, 30, 32}, 600 * kSecond), ".......");
}

TEST_F(Replay, RateCanWatchAFall) {
  auto r = rule(R"({"id":"drop","severity":"major","scope":{"type":"FacilitySensor"},
                    "rate":{"attribute":"pressure","rise":-5,"withinSeconds":60}})");
  EXPECT_EQ(replay(r, "pressure", {100, 98, 94, 94}, 10 * kSecond), "..RR");
}

TEST_F(Replay, AbsenceRaisesAfterNPeriodsOfSilenceAndClearsOnTheNextMessage) {
  auto r = rule(R"({"id":"silent","severity":"warning","scope":{"type":"FacilitySensor"},
                    "absence":{"periodSeconds":60,"periods":3}})");
  alarms::TrackState track;
  const base::Micros t0 = 1'700'000'000 * kSecond;
  auto e = entity(R"(,"tilt":0.1)");
  EXPECT_EQ(alarms::evaluate_change(r, nullptr, e, false, t0, t0, track).verdict, Verdict::kNone);
  // The clock moves; nothing arrives.
  EXPECT_EQ(alarms::evaluate_silence(r, false, t0 + 120 * kSecond, track).verdict, Verdict::kNone);
  EXPECT_EQ(alarms::evaluate_silence(r, false, t0 + 180 * kSecond, track).verdict, Verdict::kNone);
  auto silent = alarms::evaluate_silence(r, false, t0 + 181 * kSecond, track);
  EXPECT_EQ(silent.verdict, Verdict::kRaise);
  EXPECT_EQ(silent.value.as_double(), 181.0);
  // Already raised: the tick does not raise it again.
  EXPECT_EQ(alarms::evaluate_silence(r, true, t0 + 500 * kSecond, track).verdict, Verdict::kNone);
  // A message clears it and restarts the count.
  EXPECT_EQ(alarms::evaluate_change(r, &e, e, true, t0, t0 + 501 * kSecond, track).verdict,
            Verdict::kClear);
  EXPECT_EQ(alarms::evaluate_silence(r, false, t0 + 600 * kSecond, track).verdict, Verdict::kNone);
}

TEST_F(Replay, GeofenceEnterAndLeave) {
  constexpr std::string_view kArea =
      R"({"type":"Polygon","coordinates":[[[127.0,37.0],[127.1,37.0],[127.1,37.1],[127.0,37.1],[127.0,37.0]]]})";
  auto enter =
      rule(fmt::format(R"({{"id":"in","severity":"minor","scope":{{"type":"FacilitySensor"}},
                    "geofence":{{"on":"enter","area":{}}}}})",
                       kArea));
  auto leave =
      rule(fmt::format(R"({{"id":"out","severity":"minor","scope":{{"type":"FacilitySensor"}},
                    "geofence":{{"on":"leave","area":{}}}}})",
                       kArea));
  auto at = [&](double lon) {
    return entity(fmt::format(
        R"(,"location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{},37.05]}}}})",
        lon));
  };
  const std::vector<double> path{126.9, 127.05, 127.06, 127.2, 127.05};
  for (auto [r, want] :
       {std::pair{&enter, std::string(".RRCR")}, std::pair{&leave, std::string("...RC")}}) {
    alarms::TrackState track;
    std::optional<model::Entity> before;
    bool active = false;
    std::string got;
    for (double lon : path) {
      auto after = at(lon);
      auto o = alarms::evaluate_change(*r, before ? &*before : nullptr, after, active, 0, 0, track);
      got += o.verdict == Verdict::kRaise ? 'R' : o.verdict == Verdict::kClear ? 'C' : '.';
      active = o.verdict == Verdict::kRaise ? true : o.verdict == Verdict::kClear ? false : active;
      before = std::move(after);
    }
    EXPECT_EQ(got, want) << r->id;
  }
}

TEST_F(Replay, AllOfNeedsEveryConditionAndClearsWhenAnyClears) {
  auto r = rule(R"({"id":"fire","severity":"critical","scope":{"type":"FacilitySensor"},
    "all":[{"attribute":"temperature","above":45,"clearBelow":40},
           {"attribute":"smokeDensity","above":5,"clearBelow":3}]})");
  alarms::TrackState track;
  std::optional<model::Entity> before;
  bool active = false;
  std::string got;
  for (auto [temp, smoke] : std::vector<std::pair<double, double>>{
           {50, 1}, {50, 6}, {44, 6}, {39, 6}, {50, 6}, {50, 2}}) {
    auto after = entity(fmt::format(R"(,"temperature":{},"smokeDensity":{})", temp, smoke));
    auto o = alarms::evaluate_change(r, before ? &*before : nullptr, after, active, 0, 0, track);
    got += o.verdict == Verdict::kRaise ? 'R' : o.verdict == Verdict::kClear ? 'C' : '.';
    active = o.verdict == Verdict::kRaise ? true : o.verdict == Verdict::kClear ? false : active;
    before = std::move(after);
  }
  EXPECT_EQ(got, ".R.CRC");
}

}  // namespace
