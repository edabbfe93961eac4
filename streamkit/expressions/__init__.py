"""DynamoDB expressions: parse, render, evaluate, apply updates, project. Pure and synchronous."""
