"""Code that runs only during deploys: the console's CloudFormation custom resource."""
