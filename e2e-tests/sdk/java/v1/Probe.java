// What an application using the AWS SDK for Java v1 (aws-java-sdk-sts) does with the env it was
// given: AWSSecurityTokenServiceClientBuilder.defaultClient() (the default region chain and
// DefaultAWSCredentialsProviderChain), sts:GetCallerIdentity, the ARN printed. On failure: the
// exception's class and message on one line, exit 1.

import com.amazonaws.services.securitytoken.AWSSecurityTokenServiceClientBuilder;
import com.amazonaws.services.securitytoken.model.GetCallerIdentityRequest;

public final class Probe {
    public static void main(String[] args) {
        try {
            System.out.println(AWSSecurityTokenServiceClientBuilder.defaultClient()
                    .getCallerIdentity(new GetCallerIdentityRequest()).getArn());
        } catch (RuntimeException error) {
            System.out.println((error.getClass().getSimpleName() + ": " + error.getMessage())
                    .replaceAll("\\s+", " ").trim());
            System.exit(1);
        }
    }
}
