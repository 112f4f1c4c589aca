export * from "./settings";
export * from "./scripts";
export * from "./role-probe";
export * from "./units";
export * from "./cloud-init";
export * from "./vip";
export * from "./lease";
export * from "./tls";
