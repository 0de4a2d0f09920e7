// What an application using the AWS SDK for Java v1 *without* `aws-java-sdk-sts` gets from
// DefaultAWSCredentialsProviderChain (an app that uses S3 or SQS, say; AWS's EKS guide says web
// identity needs the sts module:
// https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts-minimum-sdk.html).
// To show whose credentials those are it signs sts:GetCallerIdentity itself with the SDK's own
// AWS4Signer for the region of the default region chain, sends it with the JDK's HTTP client and
// prints the ARN; on failure the exception's class and message, exit 1.

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.amazonaws.DefaultRequest;
import com.amazonaws.auth.AWS4Signer;
import com.amazonaws.auth.AWSCredentials;
import com.amazonaws.auth.DefaultAWSCredentialsProviderChain;
import com.amazonaws.http.HttpMethodName;
import com.amazonaws.regions.DefaultAwsRegionProviderChain;

public final class NoStsProbe {
    public static void main(String[] args) {
        try {
            AWSCredentials credentials = DefaultAWSCredentialsProviderChain.getInstance().getCredentials();
            String region = new DefaultAwsRegionProviderChain().getRegion();
            String body = "Action=GetCallerIdentity&Version=2011-06-15";
            DefaultRequest<Void> request = new DefaultRequest<>("sts");
            request.setHttpMethod(HttpMethodName.POST);
            request.setEndpoint(URI.create("https://sts." + region + ".amazonaws.com"));
            request.addHeader("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
            request.setContent(new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)));
            AWS4Signer signer = new AWS4Signer();
            signer.setServiceName("sts");
            signer.setRegionName(region);
            signer.sign(request, credentials);
            HttpRequest.Builder send = HttpRequest.newBuilder(URI.create("https://sts." + region + ".amazonaws.com/"))
                    .POST(HttpRequest.BodyPublishers.ofString(body));
            // The JDK sets Host itself (the same value the signer signed).
            request.getHeaders().forEach((name, value) -> {
                if (!name.equalsIgnoreCase("Host")) {
                    send.header(name, value);
                }
            });
            String answer = HttpClient.newHttpClient().send(send.build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher arn = Pattern.compile("<Arn>([^<]*)</Arn>").matcher(answer);
            if (!arn.find()) {
                throw new IllegalStateException(answer);
            }
            System.out.println(arn.group(1));
        } catch (Exception error) {
            System.out.println((error.getClass().getSimpleName() + ": " + error.getMessage())
                    .replaceAll("\\s+", " ").trim());
            System.exit(1);
        }
    }
}
