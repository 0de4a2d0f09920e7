// What an application using the AWS SDK for Java v2 with the `sts` module does with the env it
// was given: StsClient.create() (the default region chain and DefaultCredentialsProvider),
// sts:GetCallerIdentity, the ARN printed. On failure: the exception's class and message on one
// line, exit 1, so the credential-chain suite can compare the message a user would see.

import software.amazon.awssdk.services.sts.StsClient;

public final class StsProbe {
    public static void main(String[] args) {
        try (StsClient sts = StsClient.create()) {
            System.out.println(sts.getCallerIdentity().arn());
        } catch (RuntimeException error) {
            System.out.println(NoStsProbe.oneLine(error));
            System.exit(1);
        }
    }
}
