import { PolicyPack } from "@pulumi/policy";
import { guardrails } from "./policies";

new PolicyPack("iguana-ha-guardrails", { policies: guardrails, enforcementLevel: "mandatory" });
