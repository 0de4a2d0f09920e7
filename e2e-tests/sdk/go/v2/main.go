// What an application using the AWS SDK for Go v2 does with the env it was given: load the
// default configuration (config.LoadDefaultConfig: region and credential chain), call
// sts:GetCallerIdentity, print the identity's ARN. On failure it prints the SDK's error on one
// line and exits 1, so the credential-chain suite can compare the message a user would see.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fail(err)
	}
	identity, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fail(err)
	}
	fmt.Println(*identity.Arn)
}

func fail(err error) {
	fmt.Println(strings.Join(strings.Fields(err.Error()), " "))
	os.Exit(1)
}
