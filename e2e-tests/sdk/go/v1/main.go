// What an application using the AWS SDK for Go v1 does with the env it was given: a session
// from session.NewSession (region and credential chain from the env), sts:GetCallerIdentity,
// the ARN printed. On failure it prints the SDK's error on one line and exits 1, so the
// credential-chain suite can compare the message a user would see.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/sts"
)

func main() {
	sess, err := session.NewSession()
	if err != nil {
		fail(err)
	}
	identity, err := sts.New(sess).GetCallerIdentity(&sts.GetCallerIdentityInput{})
	if err != nil {
		fail(err)
	}
	fmt.Println(*identity.Arn)
}

func fail(err error) {
	fmt.Println(strings.Join(strings.Fields(err.Error()), " "))
	os.Exit(1)
}
