// The real `drover controller --store etcd://...` against a real etcd (tests/testing/
// etcd_process.h): a job PUT and read back, kept across a controller restart (the state lives in
// etcd, not in --data-dir), and a clear start-up failure when etcd cannot be reached.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/controller_process.h"
#include "tests/testing/etcd_process.h"

namespace drover {
namespace {

using testing::ControllerProcess;
using testing::EtcdProcess;
using ::testing::HasSubstr;
using testing::HttpReply;
using Json = nlohmann::json;

Json Spec(const std::string& name) {
  return {{"name", name},
          {"namespace", "default"},
          {"type", "pipeline"},
          {"selector", {{"match_labels", {{"role", "web"}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}}};
}

TEST(EtcdController, JobPutIsReadBackAndSurvivesAControllerRestart) {
  EtcdProcess etcd;
  ASSERT_EQ(etcd.Start(), "");
  std::string job_id;
  {
    ControllerProcess controller({"--store", etcd.url()});
    ASSERT_TRUE(controller.Start()) << controller.log();
    ASSERT_TRUE(controller.WaitReady()) << controller.log();  // it leads once elected
    HttpReply put = controller.Call("PUT", "/api/v1/jobs", Json{{"spec", Spec("web-logs")}}.dump());
    ASSERT_EQ(put.status, 201) << put.body;
    job_id = put.Json()["job_id"];
    HttpReply get = controller.Call("GET", "/api/v1/jobs/web-logs");
    ASSERT_EQ(get.status, 200) << get.body;
    EXPECT_EQ(get.Json()["job"]["id"], job_id);
    EXPECT_EQ(controller.Stop(), 0) << controller.log();
  }
  // A new controller with a new, empty --data-dir: the job comes from etcd.
  ControllerProcess restarted({"--store", etcd.url()});
  ASSERT_TRUE(restarted.Start()) << restarted.log();
  ASSERT_TRUE(restarted.WaitReady()) << restarted.log();
  HttpReply get = restarted.Call("GET", "/api/v1/jobs/web-logs");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.Json()["job"]["id"], job_id);
  EXPECT_EQ(get.Json()["job"]["status"]["version"], 1);
  HttpReply ready = restarted.Call("GET", "/readyz");
  EXPECT_GT(ready.Json().value("store_revision", int64_t{0}), 0) << ready.body;
}

TEST(EtcdController, UnreachableEtcdFailsTheStartNamingTheEndpoint) {
  std::string endpoint = "127.0.0.1:" + std::to_string(testing::FreePort());
  ControllerProcess controller({"--store", "etcd://" + endpoint});
  EXPECT_FALSE(controller.Start());
  EXPECT_EQ(controller.exit_code(), 1);
  EXPECT_THAT(controller.log(), HasSubstr(endpoint));
}

TEST(EtcdController, MalformedEtcdUrlIsAUsageError) {
  ControllerProcess controller({"--store", "etcd://no-port"});
  EXPECT_FALSE(controller.Start());
  EXPECT_EQ(controller.exit_code(), 2);
  EXPECT_THAT(controller.log(), HasSubstr("HOST:PORT"));
}

}  // namespace
}  // namespace drover
