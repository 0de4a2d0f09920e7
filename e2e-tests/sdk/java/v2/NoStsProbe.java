// What an application using the AWS SDK for Java v2 *without* the `sts` module gets from
// DefaultCredentialsProvider (an app that talks to S3 or SQS, say, and never added `sts`, as
// AWS's EKS guide says it must for web identity:
// https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts-minimum-sdk.html).
// To show whose credentials those are it signs sts:GetCallerIdentity itself with the SDK's own
// SigV4 signer (http-auth-aws) for the region of the default region chain, sends it with the
// JDK's HTTP client and prints the ARN; on failure the exception's class and message, exit 1.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;

public final class NoStsProbe {
    public static void main(String[] args) {
        try {
            AwsCredentials credentials = DefaultCredentialsProvider.builder().build().resolveCredentials();
            String region = new DefaultAwsRegionProviderChain().getRegion().id();
            String body = "Action=GetCallerIdentity&Version=2011-06-15";
            SdkHttpRequest request = SdkHttpRequest.builder().method(SdkHttpMethod.POST)
                    .uri(URI.create("https://sts." + region + ".amazonaws.com/"))
                    .putHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8").build();
            SignedRequest signed = AwsV4HttpSigner.create().sign(r -> r.identity(credentials).request(request)
                    .payload(ContentStreamProvider.fromUtf8String(body))
                    .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, "sts")
                    .putProperty(AwsV4HttpSigner.REGION_NAME, region));
            HttpRequest.Builder send = HttpRequest.newBuilder(request.getUri())
                    .POST(HttpRequest.BodyPublishers.ofString(body));
            // The JDK sets Host itself (the same value the signer signed).
            signed.request().forEachHeader((name, values) -> {
                if (!name.equalsIgnoreCase("Host")) {
                    values.forEach(value -> send.header(name, value));
                }
            });
            String answer = HttpClient.newHttpClient().send(send.build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher arn = Pattern.compile("<Arn>([^<]*)</Arn>").matcher(answer);
            if (!arn.find()) {
                throw new IllegalStateException(answer);
            }
            System.out.println(arn.group(1));
        } catch (Exception error) {
            System.out.println(oneLine(error));
            System.exit(1);
        }
    }

    static String oneLine(Throwable error) {
        return (error.getClass().getSimpleName() + ": " + error.getMessage()).replaceAll("\\s+", " ").trim();
    }
}
