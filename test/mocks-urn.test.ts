/** The mocks refuse what the engine refuses: a second resource with one URN fails the evaluation. */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import { evaluate } from "../offline/evaluate";

describe("offline mocks: duplicate URNs", () => {
    it("fail the evaluation, naming the type and the name, as `pulumi up` does", async () => {
        await assert.rejects(
            evaluate({
                stack: "dup",
                config: { "aws:region": "eu-west-1" },
                run: () => {
                    const parent = new pulumi.ComponentResource("iguana-ha:test:Parent", "p");
                    new ec2.Eip("twice", {}, { parent });
                    new ec2.Eip("twice", {}, { parent });
                    return {};
                },
            }),
            /Duplicate resource URN: a second aws:ec2\/eip:Eip named twice under p/,
        );
    });

    it("allow one name under two parents (two URNs)", async () => {
        const { mocks } = await evaluate({
            stack: "dup",
            config: { "aws:region": "eu-west-1" },
            run: () => {
                for (const p of ["a", "b"]) new ec2.Eip("same", {}, { parent: new pulumi.ComponentResource("iguana-ha:test:Parent", p) });
                return {};
            },
        });
        assert.strictEqual(mocks.resources.filter((r) => r.name === "same").length, 2);
    });
});
