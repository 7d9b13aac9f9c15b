// GET /metrics: the Prometheus text format, requests counted by route
// pattern (never the raw path) and status, and the pool's gauge.
#include "server_fixture.h"

using namespace kiln::server_test;

TEST(MetricsRoute, CountsRequestsByRouteAndStatus) {
  TestServer s("metrics");
  auto c = s.client();
  ASSERT_TRUE(c->Get("/api/version"));
  ASSERT_TRUE(c->Get("/api/version"));
  ASSERT_TRUE(c->Get("/no/such/path"));
  ASSERT_TRUE(c->Head("/api/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000"));
  ASSERT_TRUE(c->Post("/api/show", R"({"model":"absent"})", "application/json"));

  auto r = c->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = r->body;
  EXPECT_NE(text.find("# TYPE kiln_http_requests_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(kiln_http_requests_total{path="/api/version",status="200"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(kiln_http_requests_total{path="other",status="404"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(kiln_http_requests_total{path="/api/blobs/:digest",status="404"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(kiln_http_requests_total{path="/api/show",status="404"} 1)"), std::string::npos) << text;
  EXPECT_EQ(text.find("/no/such/path"), std::string::npos) << "raw paths never become labels";
  EXPECT_NE(text.find("kiln_models_loaded 0"), std::string::npos) << text;
}
