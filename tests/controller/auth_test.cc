// The token file parser, bearer authentication and the role x access x namespace decisions of
// SPEC §12. Errors must never echo a token.
#include "controller/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace drover::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kWriterToken[] = "writer-token-0123456789";
constexpr char kReaderToken[] = "reader-token-0123456789";
constexpr char kAgentToken[] = "agent-token-0123456789";

std::string GoodFile() {
  return std::string("# Drover tokens\n") + "\n" + kAdminToken + " admin\n" + "  " + kWriterToken +
         "\twriter:prod   \r\n" + "   # indented comment\n" + kReaderToken + " reader:*\n" +
         kAgentToken + " agent";  // no final newline
}

std::string ErrorOf(std::string_view text) {
  Result<TokenTable> table = TokenTable::Load(text);
  if (table.ok()) return "OK";
  EXPECT_EQ(table.status().code(), StatusCode::kInvalid);
  return table.status().message();
}

TEST(TokenTableLoad, ParsesRolesCommentsBlankLinesAndCrlf) {
  Result<TokenTable> table = TokenTable::Load(GoodFile());
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->size(), 4u);

  Result<Caller> writer = table->Authenticate(std::string("Bearer ") + kWriterToken);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(writer->role, Role::kWriter);
  EXPECT_EQ(writer->role_name, "writer:prod");
  EXPECT_EQ(writer->namespace_, "prod");

  Result<Caller> reader = table->Authenticate(std::string("Bearer ") + kReaderToken);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->role, Role::kReader);
  EXPECT_EQ(reader->namespace_, "*");

  Result<Caller> admin = table->Authenticate(std::string("Bearer ") + kAdminToken);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_EQ(admin->namespace_, "");

  Result<Caller> agent = table->Authenticate(std::string("Bearer ") + kAgentToken);
  ASSERT_TRUE(agent.ok());
  EXPECT_EQ(agent->role, Role::kAgent);
  EXPECT_EQ(agent->role_name, "agent");
}

TEST(TokenTableLoad, AcceptsUtf8ByteOrderMark) {
  EXPECT_EQ(ErrorOf(std::string("\xEF\xBB\xBF") + kAdminToken + " admin\n"), "OK");
}

TEST(TokenTableLoad, UnknownRoleNamesLineWithoutEchoingFields) {
  std::string text =
      std::string("# header\n") + kAdminToken + " admin\n" + kWriterToken + " root\n";
  std::string error = ErrorOf(text);
  EXPECT_THAT(error, HasSubstr("line 3"));
  EXPECT_THAT(error, HasSubstr("unknown role"));
  EXPECT_THAT(error, Not(HasSubstr(kWriterToken)));
  EXPECT_THAT(error, Not(HasSubstr("root")));
}

TEST(TokenTableLoad, SwappedColumnsDoNotLeakTheToken) {
  std::string error = ErrorOf(std::string("admin ") + kAdminToken + "\n");
  EXPECT_THAT(error, HasSubstr("line 1"));
  EXPECT_THAT(error, Not(HasSubstr(kAdminToken)));
}

TEST(TokenTableLoad, RejectsBadNamespacesInRoles) {
  for (const char* role : {"writer:", "reader:", "writer:Prod", "reader:-x", "writer:a b",
                           "reader:**", "writer:prod/"}) {
    std::string error = ErrorOf(std::string(kWriterToken) + " " + role + "\n");
    EXPECT_THAT(error, HasSubstr("line 1")) << role;
    EXPECT_THAT(error, Not(HasSubstr(kWriterToken))) << role;
  }
  EXPECT_EQ(ErrorOf(std::string(kWriterToken) + " writer:" + std::string(63, 'a')), "OK");
  EXPECT_THAT(ErrorOf(std::string(kWriterToken) + " writer:" + std::string(64, 'a')),
              HasSubstr("invalid namespace"));
  EXPECT_THAT(ErrorOf(std::string(kWriterToken) + " Admin"), HasSubstr("unknown role"));
}

TEST(TokenTableLoad, ShortTokenIsAnErrorWithoutTheToken) {
  std::string error = ErrorOf(std::string(kAdminToken) + " admin\n\nshort-token-15c reader:x\n");
  EXPECT_THAT(error, HasSubstr("line 3"));
  EXPECT_THAT(error, HasSubstr("shorter than 16"));
  EXPECT_THAT(error, Not(HasSubstr("short-token-15c")));
  EXPECT_EQ(ErrorOf("exactly-16-chars reader:x"), "OK");
}

TEST(TokenTableLoad, DuplicateTokenNamesBothLines) {
  std::string error =
      ErrorOf(std::string(kAdminToken) + " admin\n# c\n" + kAdminToken + " reader:prod\n");
  EXPECT_THAT(error, HasSubstr("line 3"));
  EXPECT_THAT(error, HasSubstr("line 1"));
  EXPECT_THAT(error, Not(HasSubstr(kAdminToken)));
}

TEST(TokenTableLoad, WrongFieldCountsAreErrors) {
  EXPECT_THAT(ErrorOf(std::string(kAdminToken) + "\n"), HasSubstr("line 1: expected `TOKEN ROLE`"));
  EXPECT_THAT(ErrorOf(std::string(kAdminToken) + " admin extra\n"),
              HasSubstr("line 1: expected `TOKEN ROLE`, found 3 fields"));
  EXPECT_THAT(ErrorOf(std::string(kAdminToken) + " admin # trailing comment\n"),
              HasSubstr("line 1"));
}

TEST(TokenTableLoad, NonAsciiTokenIsAnError) {
  std::string error = ErrorOf("t\xC3\xA9l\xC3\xA9phone-0123456789 admin\n");
  EXPECT_THAT(error, HasSubstr("line 1"));
  EXPECT_THAT(error, HasSubstr("visible ASCII"));
}

TEST(TokenTableLoad, FileWithoutTokensIsAnError) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("no tokens"));
  EXPECT_THAT(ErrorOf("# only a comment\n\n   \n"), HasSubstr("no tokens"));
}

TEST(TokenTableLoadFile, ReadsFileAndNamesPathInErrors) {
  std::string path = ::testing::TempDir() + "/drover_auth_test_tokens";
  {
    std::ofstream out(path);
    out << kAdminToken << " admin\nbad-line\n";
  }
  Result<TokenTable> bad = TokenTable::LoadFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path));
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr(kAdminToken)));

  {
    std::ofstream out(path);
    out << kAdminToken << " admin\n";
  }
  Result<TokenTable> good = TokenTable::LoadFile(path);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good->size(), 1u);
  std::remove(path.c_str());

  Result<TokenTable> missing = TokenTable::LoadFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path));
}

class AuthenticateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<TokenTable> table = TokenTable::Load(GoodFile());
    ASSERT_TRUE(table.ok()) << table.status().message();
    table_ = std::move(table.value());
  }

  void ExpectUnauthorized(std::string_view header) {
    Result<Caller> caller = table_.Authenticate(header);
    ASSERT_FALSE(caller.ok()) << header;
    EXPECT_EQ(caller.status().code(), StatusCode::kUnauthorized) << header;
    for (const char* token : {kAdminToken, kWriterToken, kReaderToken, kAgentToken}) {
      EXPECT_THAT(caller.status().message(), Not(HasSubstr(token))) << header;
    }
  }

  TokenTable table_ = TokenTable::Load("placeholder-token-1234 admin").value();
};

TEST_F(AuthenticateTest, MissingHeaderIsUnauthorized) {
  ExpectUnauthorized("");
  ExpectUnauthorized("   ");
  EXPECT_THAT(table_.Authenticate("").status().message(), HasSubstr("missing bearer token"));
}

TEST_F(AuthenticateTest, WrongSchemeIsUnauthorizedWithoutEchoingIt) {
  ExpectUnauthorized(std::string("Basic ") + kAdminToken);
  ExpectUnauthorized(kAdminToken);  // no scheme at all: the token sits where the scheme should
  ExpectUnauthorized(std::string("Bearer:") + kAdminToken);
  EXPECT_THAT(table_.Authenticate("Basic dXNlcjpwYXNz").status().message(),
              Not(HasSubstr("dXNlcjpwYXNz")));
}

TEST_F(AuthenticateTest, BearerWithoutTokenIsUnauthorized) {
  ExpectUnauthorized("Bearer");
  ExpectUnauthorized("Bearer    ");
}

TEST_F(AuthenticateTest, UnknownTokensGetOneMessageWhateverTheirLikeness) {
  const std::string admin = kAdminToken;
  std::string expected = table_.Authenticate("Bearer completely-unknown-token").status().message();
  EXPECT_EQ(expected, "invalid bearer token");
  for (const std::string& near :
       {admin.substr(0, admin.size() - 1), admin + "x", "X" + admin.substr(1), admin + " " + admin,
        std::string(10000, 'a')}) {
    ExpectUnauthorized("Bearer " + near);
    EXPECT_EQ(table_.Authenticate("Bearer " + near).status().message(), expected);
  }
}

TEST_F(AuthenticateTest, SchemeIsCaseInsensitiveAndWhitespaceTolerated) {
  for (std::string scheme : {"Bearer ", "bearer ", "BEARER ", "bEaReR\t", "Bearer   "}) {
    Result<Caller> caller = table_.Authenticate(scheme + kAdminToken + "  ");
    ASSERT_TRUE(caller.ok()) << scheme << caller.status().message();
    EXPECT_EQ(caller->role, Role::kAdmin);
  }
}

TEST_F(AuthenticateTest, TokenIdIsAStableNonSecretFingerprint) {
  Result<Caller> agent = table_.Authenticate(std::string("Bearer ") + kAgentToken);
  Result<Caller> again = table_.Authenticate(std::string("Bearer ") + kAgentToken);
  Result<Caller> admin = table_.Authenticate(std::string("Bearer ") + kAdminToken);
  ASSERT_TRUE(agent.ok() && again.ok() && admin.ok());
  EXPECT_EQ(agent->token_id, again->token_id);
  EXPECT_NE(agent->token_id, admin->token_id);
  EXPECT_EQ(agent->token_id, TokenFingerprint(kAgentToken));
  EXPECT_THAT(agent->token_id, ::testing::MatchesRegex("[0-9a-f]{8}"));
  EXPECT_EQ(std::string(kAgentToken).find(agent->token_id), std::string::npos);
}

TEST(TokenFingerprint, IsTopHalfOfFnv1a64) {
  // FNV-1a 64 of "" is cbf29ce484222325; of "a" is af63dc4c8601ec8c.
  EXPECT_EQ(TokenFingerprint(""), "cbf29ce4");
  EXPECT_EQ(TokenFingerprint("a"), "af63dc4c");
}

// --- Authorize: role x access x namespace
// ---------------------------------------------------------

Caller Make(std::string role_name) {
  Result<TokenTable> table = TokenTable::Load("some-token-0123456789 " + role_name);
  EXPECT_TRUE(table.ok()) << table.status().message();
  return table->Authenticate("Bearer some-token-0123456789").value();
}

struct AuthorizeCase {
  const char* role;
  Access access;
  const char* target_namespace;
  bool allowed;
  friend void PrintTo(const AuthorizeCase& c, std::ostream* os) {
    static const char* kAccess[] = {"public", "read", "write", "admin", "agent"};
    *os << c.role << " " << kAccess[static_cast<int>(c.access)] << " ns=\"" << c.target_namespace
        << "\" -> " << (c.allowed ? "allow" : "deny");
  }
};

class AuthorizeDecides : public ::testing::TestWithParam<AuthorizeCase> {};

TEST_P(AuthorizeDecides, AllowsOnlyWhatTheRoleMayDo) {
  const AuthorizeCase& c = GetParam();
  Status status = Authorize(Make(c.role), c.access, c.target_namespace);
  if (c.allowed) {
    EXPECT_TRUE(status.ok()) << status.message();
  } else {
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), StatusCode::kForbidden);
    EXPECT_THAT(status.message(), HasSubstr(std::string("role ") + c.role + " may only"));
  }
}

constexpr Access kPublic = Access::kPublic;
constexpr Access kRead = Access::kRead;
constexpr Access kWrite = Access::kWrite;
constexpr Access kAdmin = Access::kAdmin;
constexpr Access kAgent = Access::kAgent;

INSTANTIATE_TEST_SUITE_P(
    Table, AuthorizeDecides,
    ::testing::Values(
        // admin: everything.
        AuthorizeCase{"admin", kPublic, "", true}, AuthorizeCase{"admin", kRead, "", true},
        AuthorizeCase{"admin", kRead, "*", true}, AuthorizeCase{"admin", kRead, "prod", true},
        AuthorizeCase{"admin", kWrite, "", true}, AuthorizeCase{"admin", kWrite, "prod", true},
        AuthorizeCase{"admin", kWrite, "*", true}, AuthorizeCase{"admin", kAdmin, "", true},
        AuthorizeCase{"admin", kAgent, "", true},
        // agent: only the agent protocol (and public routes).
        AuthorizeCase{"agent", kPublic, "", true}, AuthorizeCase{"agent", kAgent, "", true},
        AuthorizeCase{"agent", kRead, "", false}, AuthorizeCase{"agent", kRead, "prod", false},
        AuthorizeCase{"agent", kRead, "*", false}, AuthorizeCase{"agent", kWrite, "prod", false},
        AuthorizeCase{"agent", kAdmin, "", false},
        // writer:prod: read and write prod, read non-namespaced.
        AuthorizeCase{"writer:prod", kPublic, "", true},
        AuthorizeCase{"writer:prod", kRead, "prod", true},
        AuthorizeCase{"writer:prod", kWrite, "prod", true},
        AuthorizeCase{"writer:prod", kRead, "", true},
        AuthorizeCase{"writer:prod", kRead, "staging", false},
        AuthorizeCase{"writer:prod", kWrite, "staging", false},
        AuthorizeCase{"writer:prod", kRead, "*", false},
        AuthorizeCase{"writer:prod", kWrite, "*", false},
        AuthorizeCase{"writer:prod", kWrite, "", false},
        AuthorizeCase{"writer:prod", kRead, "prod-2", false},
        AuthorizeCase{"writer:prod", kAdmin, "", false},
        AuthorizeCase{"writer:prod", kAdmin, "prod", false},
        AuthorizeCase{"writer:prod", kAgent, "", false},
        // writer:*: read and write every namespace.
        AuthorizeCase{"writer:*", kRead, "prod", true},
        AuthorizeCase{"writer:*", kWrite, "staging", true},
        AuthorizeCase{"writer:*", kRead, "*", true}, AuthorizeCase{"writer:*", kWrite, "*", true},
        AuthorizeCase{"writer:*", kRead, "", true}, AuthorizeCase{"writer:*", kWrite, "", false},
        AuthorizeCase{"writer:*", kAdmin, "", false}, AuthorizeCase{"writer:*", kAgent, "", false},
        // reader:prod: read prod and non-namespaced.
        AuthorizeCase{"reader:prod", kPublic, "", true},
        AuthorizeCase{"reader:prod", kRead, "prod", true},
        AuthorizeCase{"reader:prod", kRead, "", true},
        AuthorizeCase{"reader:prod", kRead, "staging", false},
        AuthorizeCase{"reader:prod", kRead, "*", false},
        AuthorizeCase{"reader:prod", kWrite, "prod", false},
        AuthorizeCase{"reader:prod", kWrite, "", false},
        AuthorizeCase{"reader:prod", kAdmin, "", false},
        AuthorizeCase{"reader:prod", kAgent, "", false},
        // reader:*: read everything, write nothing.
        AuthorizeCase{"reader:*", kRead, "staging", true},
        AuthorizeCase{"reader:*", kRead, "*", true}, AuthorizeCase{"reader:*", kRead, "", true},
        AuthorizeCase{"reader:*", kWrite, "prod", false},
        AuthorizeCase{"reader:*", kWrite, "*", false}, AuthorizeCase{"reader:*", kAdmin, "", false},
        AuthorizeCase{"reader:*", kAgent, "", false}));

TEST(Authorize, DenialsSayWhatTheRoleMayDo) {
  EXPECT_THAT(Authorize(Make("reader:prod"), kRead, "staging").message(),
              HasSubstr("role reader:prod may only read jobs in namespace prod"));
  EXPECT_THAT(Authorize(Make("reader:prod"), kRead, "staging").message(),
              HasSubstr("namespace staging"));
  EXPECT_THAT(Authorize(Make("reader:prod"), kWrite, "prod").message(),
              HasSubstr("writing needs a writer or admin role"));
  EXPECT_THAT(Authorize(Make("writer:prod"), kWrite, "dev").message(),
              HasSubstr("role writer:prod may only read and write jobs in namespace prod"));
  EXPECT_THAT(Authorize(Make("writer:*"), kAdmin, "").message(),
              HasSubstr("node operations need the admin role"));
  EXPECT_THAT(Authorize(Make("agent"), kRead, "prod").message(),
              HasSubstr("role agent may only call the agent protocol"));
  EXPECT_THAT(Authorize(Make("reader:prod"), kRead, "*").message(), HasSubstr("every namespace"));
}

}  // namespace
}  // namespace drover::controller
