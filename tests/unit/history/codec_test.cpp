// The history chunk codec: every point comes back bit for bit, whatever the series looks like.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "store/sqlite/history_codec.h"

namespace cityroom::store::sqlite {
namespace {

using Tag = StoredPoint::Tag;

void expect_same(const std::vector<StoredPoint>& a, const std::vector<StoredPoint>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a[i].t, b[i].t);
    EXPECT_EQ(a[i].iid, b[i].iid);
    EXPECT_EQ(a[i].ds, b[i].ds);
    EXPECT_EQ(a[i].k, b[i].k);
    ASSERT_EQ(a[i].tag, b[i].tag);
    if (a[i].tag == Tag::kInt) EXPECT_EQ(a[i].i, b[i].i);
    if (a[i].tag == Tag::kDouble) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(a[i].d), std::bit_cast<std::uint64_t>(b[i].d));
    }
    if (a[i].tag == Tag::kText) EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].x, b[i].x);
  }
}

std::vector<StoredPoint> round_trip(const std::vector<StoredPoint>& pts, std::size_t* bytes = nullptr) {
  std::string blob;
  encode_points(pts, blob);
  if (bytes) *bytes = blob.size();
  auto back = decode_points(blob);
  EXPECT_TRUE(back) << (back ? "" : back.error().detail);
  NumericColumns cols;
  EXPECT_TRUE(decode_numeric(blob, cols));
  EXPECT_EQ(cols.t.size(), pts.size());
  return back ? std::move(*back) : std::vector<StoredPoint>{};
}

StoredPoint number(std::int64_t t, double d) {
  StoredPoint p;
  p.t = t;
  p.iid = t;
  p.k = 16;
  p.tag = Tag::kDouble;
  p.d = d;
  return p;
}

TEST(HistoryCodec, ARegularSensorSeriesIsSmall) {
  std::vector<StoredPoint> pts;
  double v = 40;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1440; ++i) {
    v = std::round((v + static_cast<double>(static_cast<int>(rng() % 21) - 10) / 10.0) * 10) / 10;
    pts.push_back(number(1'704'067'200'000'000 + i * 60'000'000LL, v));
  }
  std::size_t bytes = 0;
  expect_same(pts, round_trip(pts, &bytes));
  EXPECT_LT(bytes, 1440u * 2);  // decimal mode: about one byte a point
}

TEST(HistoryCodec, SpecialDoublesRoundTrip) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> values = {0.0,  -0.0, inf, -inf, std::nan(""), std::nan("7"),
                                1e308, -1e-308, 5e-324, 0.1, 0.1, 1.0 / 3, 42};
  std::vector<StoredPoint> pts;
  for (std::size_t i = 0; i < values.size(); ++i) pts.push_back(number(static_cast<std::int64_t>(i), values[i]));
  expect_same(pts, round_trip(pts));
  // and decimals alone, and a lone -0.0 (not decimal: its sign would be lost)
  expect_same({number(1, 1.5), number(2, -2.25)}, round_trip({number(1, 1.5), number(2, -2.25)}));
  expect_same({number(1, -0.0)}, round_trip({number(1, -0.0)}));
}

TEST(HistoryCodec, RandomSeriesRoundTrip) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE(round);
    const std::size_t n = rng() % 300;
    std::vector<StoredPoint> pts;
    std::int64_t t = static_cast<std::int64_t>(rng());  // anywhere, incl. negative
    for (std::size_t i = 0; i < n; ++i) {
      StoredPoint p;
      switch (rng() % 5) {
        case 0: t += 60'000'000; break;                           // regular
        case 1: t += static_cast<std::int64_t>(rng() % 1000); break;  // irregular
        case 2: t -= static_cast<std::int64_t>(rng() % 100000); break;  // out of order
        case 3: t = static_cast<std::int64_t>(rng()); break;       // a big jump (wraps)
        default: break;                                            // same time
      }
      p.t = t;
      p.iid = rng() % 3 == 0 ? static_cast<std::int64_t>(rng()) : t + static_cast<std::int64_t>(rng() % 5);
      p.ds = static_cast<std::int64_t>(rng() % 3);
      p.k = static_cast<std::int64_t>(rng() % 2) * 16 + static_cast<std::int64_t>(rng() % 8);
      switch (rng() % 6) {
        case 0: p.tag = Tag::kInt; p.i = static_cast<std::int64_t>(rng()); break;
        case 1: p.tag = Tag::kInt; p.i = static_cast<std::int64_t>(rng() % 100) - 50; break;
        case 2: p.tag = Tag::kDouble; p.d = std::bit_cast<double>(rng()); break;
        case 3: p.tag = Tag::kDouble; p.d = static_cast<double>(rng() % 1000) / 10; break;
        case 4: p.tag = Tag::kText; p.text = rng() % 2 ? "정상" : std::string(rng() % 40, 'a'); break;
        default: p.tag = Tag::kNone; break;
      }
      if (rng() % 4 == 0) p.x = R"({"unitCode":"GQ"})";
      pts.push_back(std::move(p));
    }
    expect_same(pts, round_trip(pts));
  }
}

TEST(HistoryCodec, DamagedBlobsAreErrorsNotCrashes) {
  std::vector<StoredPoint> pts;
  for (int i = 0; i < 50; ++i) pts.push_back(number(i * 7, i * 0.3));
  pts[3].tag = Tag::kText;
  pts[3].text = "hello";
  pts[4].x = "{}";
  std::string blob;
  encode_points(pts, blob);
  std::mt19937_64 rng(5);
  for (std::size_t cut = 0; cut < blob.size(); ++cut) {
    (void)decode_points(std::string_view(blob).substr(0, cut));  // must not crash
  }
  EXPECT_FALSE(decode_points(""));
  EXPECT_FALSE(decode_points(std::string_view(blob).substr(0, blob.size() / 2)));
  for (int i = 0; i < 500; ++i) {
    std::string bad = blob;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    (void)decode_points(bad);
  }
}

}  // namespace
}  // namespace cityroom::store::sqlite
