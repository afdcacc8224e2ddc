#include "reconcilers/node_state.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using std::chrono::seconds;

TEST(NodeConnectionState, ConnectedDisconnectedLostBySilence) {
  EXPECT_EQ(NodeConnectionState(true, seconds(0), seconds(5), seconds(600)), "connected");
  EXPECT_EQ(NodeConnectionState(true, seconds(14), seconds(5), seconds(600)), "connected");
  EXPECT_EQ(NodeConnectionState(true, seconds(15), seconds(5), seconds(600)), "disconnected");
  EXPECT_EQ(NodeConnectionState(true, seconds(614), seconds(5), seconds(600)), "disconnected");
  EXPECT_EQ(NodeConnectionState(true, seconds(615), seconds(5), seconds(600)), "lost");
}

TEST(NodeConnectionState, NotHeardSinceStartIsDisconnected) {
  EXPECT_EQ(NodeConnectionState(false, seconds(0), seconds(5), seconds(600)), "disconnected");
}

}  // namespace
}  // namespace drover
