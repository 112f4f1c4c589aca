import { program } from "./components/program";

const outputs = program();

export const cloud = outputs.cloud;
export const vip = outputs.vip;
export const vipAddresses = outputs.vipAddresses;
export const dashboardUrl = outputs.dashboardUrl;
export const channelEndpoints = outputs.channelEndpoints;
export const workers = outputs.workers;
