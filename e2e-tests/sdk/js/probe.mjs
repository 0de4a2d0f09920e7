// What an application using the AWS SDK for JavaScript v3 does with the env it
// was given: an STS client with the default configuration (region from the
// env, the default credential provider chain), sts:GetCallerIdentity, the ARN
// printed. On failure: the error's name and message on one line, exit 1.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

try {
  const identity = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  console.log(identity.Arn);
} catch (error) {
  console.log(`${error.name}: ${error.message}`.replace(/\s+/g, " "));
  process.exitCode = 1;
}
